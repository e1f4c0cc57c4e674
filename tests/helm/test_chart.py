"""The Helm chart as rendered by helm itself: lint, Kubernetes 1.37 validity, values schema,
the portal.yaml the hub reads, where secrets go, and the wiring the hub's pod is given."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft202012Validator
from traitlets.config import Config

from hub_config import cluster
from portal import chart as portal_chart
from portal import config as portal_config
from portal.ops import dashboards, rules, scrape

from .conftest import ROOT, HelmError, run_helm

K8S_VERSION = "1.37.0"
VALUES = ("default", "all-options")
# The fields of a ServiceMonitor the chart sets (kubernetes-validate has no schema for CRDs).
SERVICE_MONITOR_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name", "labels"], "additionalProperties": False,
                     "properties": {"name": {"type": "string"},
                                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "spec": {"type": "object", "additionalProperties": False, "required": ["selector", "endpoints"], "properties": {
            "selector": {"type": "object", "additionalProperties": False, "required": ["matchLabels"],
                         "properties": {"matchLabels": {"type": "object",
                                                        "additionalProperties": {"type": "string"}}}},
            "endpoints": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": ["port", "path"],
                "properties": {"port": {"type": "string"}, "path": {"type": "string"},
                               "interval": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"},
                               "authorization": {"type": "object", "additionalProperties": False,
                                                 "required": ["type", "credentials"], "properties": {
                                                     "type": {"const": "Bearer"},
                                                     "credentials": {"type": "object", "additionalProperties": False,
                                                                     "required": ["name", "key"], "properties": {
                                                                         "name": {"type": "string"},
                                                                         "key": {"type": "string"}}}}},
                               "relabelings": {"type": "array", "items": {  # the operator's RelabelConfig
                                   "type": "object", "additionalProperties": False, "properties": {
                                       "targetLabel": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
                                       "replacement": {"type": "string"},
                                       "action": {"enum": ["replace", "keep", "drop", "labelmap"]}}}}}}}}},
    },
}


def values_args(which: str, all_options) -> tuple:
    return (all_options,) if which == "all-options" else ()


def one(docs: list[dict], kind: str, suffix: str = "") -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"expected one {kind} named *{suffix}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def container(docs: list[dict], deployment_suffix: str) -> dict:
    return one(docs, "Deployment", deployment_suffix)["spec"]["template"]["spec"]["containers"][0]


def secret_text(secret: dict, key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


@pytest.mark.parametrize("which", VALUES)
def test_helm_lint_passes(helm, chart, all_options, which):
    files = [a for f in values_args(which, all_options) for a in ("--values", str(f))]
    out = run_helm(helm, "lint", "--strict", str(chart), *files)
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("which", VALUES)
def test_every_manifest_is_valid_kubernetes_1_37(render, all_options, which):
    docs = render(*values_args(which, all_options))
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "Secret", "PersistentVolumeClaim", "ServiceAccount", "ClusterRole",
            "ClusterRoleBinding", "Role", "RoleBinding"} <= kinds
    if which == "all-options":
        assert {"Ingress", "ConfigMap", "ServiceMonitor", "PrometheusRule"} <= kinds
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            Draft202012Validator(SERVICE_MONITOR_SCHEMA).validate(doc)
        elif doc["kind"] == "PrometheusRule":  # its rules: promtool in tests/ops
            assert doc["apiVersion"] == "monitoring.coreos.com/v1" and set(doc) == {
                "apiVersion", "kind", "metadata", "spec"} and set(doc["spec"]) == {"groups"}
        else:  # strict: an unknown field fails
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_values_schema_and_reference_are_not_stale():
    done = subprocess.run([sys.executable, "-m", "portal.chart", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_stale_schema_is_named_by_check(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "aiportal"
    shutil.copytree(portal_chart.CHART, copy)
    schema = json.loads((copy / "chart.schema.json").read_text())
    schema["properties"]["rbac"]["properties"]["create"]["description"] = "changed"
    (copy / "chart.schema.json").write_text(json.dumps(schema))
    monkeypatch.setattr(portal_chart, "CHART", copy)
    assert portal_chart.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert f"{copy / 'values.schema.json'} is stale" in err and f"{copy / 'README.md'} is stale" in err
    assert portal_chart.main([]) == 0 and portal_chart.main(["--check"]) == 0


def test_a_dashboard_written_by_hand_or_edited_is_named_by_check(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "aiportal"
    shutil.copytree(portal_chart.CHART, copy)
    monkeypatch.setattr(portal_chart, "CHART", copy)
    (copy / "dashboards" / "by-hand.json").write_text("{}")
    (copy / "dashboards" / "aiportal-team.json").write_text("{}")
    assert portal_chart.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert f"{copy / 'dashboards' / 'by-hand.json'} is not generated" in err
    assert f"{copy / 'dashboards' / 'aiportal-team.json'} is stale" in err
    (copy / "dashboards" / "by-hand.json").unlink()
    assert portal_chart.main([]) == 0 and portal_chart.main(["--check"]) == 0


def test_values_yaml_holds_the_schema_defaults_of_the_chart_keys(chart):
    """Helm applies no schema defaults: values.yaml must spell out the same ones."""
    values = yaml.safe_load((chart / "values.yaml").read_text())
    schema = portal_chart.chart_schema()
    for key, sub in schema["properties"].items():
        if key != "portal":
            assert values[key] == portal_config.with_defaults(sub, {}, schema), key


def test_reference_lists_every_value(chart):
    readme = (chart / "README.md").read_text()
    for row in ("`portal.spawner.kubernetes.home.size`", "`portal.teams[].quota`", "`hub.db.existingSecret`",
                "`portal.profiles.<name>.memory`", "`persistence.accessModes`", "`grafanaDashboards.labels`"):
        assert row in readme


@pytest.mark.parametrize(("values", "field"), [
    ({"portal": {"no_such_key": 1}}, "no_such_key"),
    ({"portal": {"teams": [{"name": "Bad_Team"}]}}, "/portal/teams/0/name"),
    ({"portal": {"teams": [{"name": "xn--team"}]}}, "/portal/teams/0/name"),
    ({"hub": {"resources": {"limits": {"memory": "lots"}}}}, "/hub/resources/limits/memory"),
    ({"portal": {"profiles": {"cpu": {"image": "x", "memory": "2 gigs"}}}}, "/portal/profiles/cpu/memory"),
    ({"persistence": {"size": "big"}}, "/persistence/size"),
    ({"portal": {"spawner": {"backend": "podman"}}}, "/portal/spawner/backend"),
    ({"portal": {"storage": {"endpoint": None}}}, "/portal/storage': missing property 'endpoint'"),
    ({"storage": {"existingSecret": None}}, "/storage/accessKey"),
    ({"hub": {"db": {"type": "postgres"}}}, "/hub/db"),
], ids=["unknown-portal-key", "bad-team-name", "xn-team-name", "bad-k8s-quantity", "bad-portal-quantity",
        "bad-volume-size", "not-kubernetes", "no-s3-endpoint", "no-s3-keys", "postgres-without-secret"])
def test_bad_value_fails_lint_and_template_naming_the_field(helm, chart, render, tmp_path, values, field):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(values))
    with pytest.raises(HelmError) as lint:
        run_helm(helm, "lint", str(chart), "--values", str(bad))
    with pytest.raises(HelmError) as template:
        render(bad)
    assert "values don't meet the specifications of the schema" in str(template.value)
    for error in (lint.value, template.value):
        assert field in str(error), str(error)


@pytest.mark.parametrize("which", VALUES)
def test_rendered_portal_yaml_loads_with_the_portals_own_validation(render, all_options, tmp_path, which):
    docs = render(*values_args(which, all_options))
    path = tmp_path / "portal.yaml"
    path.write_text(secret_text(one(docs, "Secret", "-config"), "portal.yaml"))
    cfg = portal_config.load(path)
    assert cfg.spawner_backend == "kubernetes" and cfg.storage_endpoint
    if which == "all-options":
        assert cfg.teams["radiology"].quota.storage == 2**40
        assert cfg.profiles["gpu"].memory == 64 * 2**30
        assert cfg.raw["spawner"]["kubernetes"]["namespace_prefix"] == "ai-"
    hub = one(docs, "Deployment", "-hub")["spec"]["template"]
    assert {"name": "config", "mountPath": "/etc/aiportal", "readOnly": True} in hub["spec"]["containers"][0][
        "volumeMounts"]
    env = {e["name"]: e.get("value") for e in hub["spec"]["containers"][0]["env"]}
    assert env["AIPORTAL_CONFIG"] == "/etc/aiportal/portal.yaml"


def test_admin_s3_keys_are_only_in_a_secret(render, all_options):
    values = yaml.safe_load(all_options.read_text())["storage"]
    docs = render(all_options)
    secret = one(docs, "Secret", "-s3")
    assert secret_text(secret, "access") == values["accessKey"]
    assert secret_text(secret, "secret") == values["secretKey"]
    for key in (values["accessKey"], values["secretKey"]):
        encoded = base64.b64encode(key.encode()).decode()
        holders = [d["metadata"]["name"] for d in docs if key in json.dumps(d) or encoded in json.dumps(d)]
        assert holders == [secret["metadata"]["name"]]
    hub_env = {e["name"]: e for e in container(docs, "-hub")["env"]}
    for name, key in (("AIPORTAL_S3_ACCESS_KEY", "access"), ("AIPORTAL_S3_SECRET_KEY", "secret")):
        assert hub_env[name]["valueFrom"]["secretKeyRef"] == {"name": secret["metadata"]["name"], "key": key}
    assert all("AIPORTAL_S3" not in e["name"] for e in container(docs, "-proxy")["env"])


def test_existing_s3_secret_is_referenced_not_made(render):
    docs = render()
    assert not [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "aiportal-s3"]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in container(docs, "-hub")["env"]
            if e["name"].startswith("AIPORTAL_S3_")}
    assert refs == {"aiportal-s3"}


@pytest.mark.parametrize("variable,secret,key", [("AIPORTAL_GITLAB_TOKEN", "aiportal-gitlab", "platform-token"),
                                                 ("AIPORTAL_METRICS_TOKEN", "aiportal-metrics", "scrape"),
                                                 ("AIPORTAL_PROMETHEUS_TOKEN", "aiportal-prometheus", "bearer")])
def test_service_tokens_come_from_their_secrets_to_the_hub_only(render, all_options, variable, secret, key):
    docs = render(all_options)
    hub_env = {e["name"]: e for e in container(docs, "-hub")["env"]}
    assert hub_env[variable]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": key}
    assert all(e["name"] != variable for e in container(docs, "-proxy")["env"])
    assert variable not in {e["name"] for e in container(render(), "-hub")["env"]}  # none by default


def test_hub_and_proxy_share_one_token_from_a_secret(render):
    docs = render()
    token = one(docs, "Secret", "-proxy-token")
    assert len(secret_text(token, "token")) == 64
    for suffix in ("-hub", "-proxy"):
        env = {e["name"]: e for e in container(docs, suffix)["env"]}
        assert env["CONFIGPROXY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": token["metadata"]["name"], "key": "token"}


def _expand(value: str, env: dict) -> str:
    """Kubernetes' $(VAR) expansion of env values and args."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def _service_env(docs: list[dict]) -> dict:
    """The variables Kubernetes injects for each Service, with made-up cluster IPs."""
    env = {}
    for i, svc in enumerate(d for d in docs if d["kind"] == "Service"):
        prefix = svc["metadata"]["name"].upper().replace("-", "_")
        env[f"{prefix}_SERVICE_HOST"] = f"10.0.0.{10 + i}"
        env[f"{prefix}_SERVICE_PORT"] = str(svc["spec"]["ports"][0]["port"])
    return env


@pytest.mark.parametrize("which", VALUES)
def test_hub_pod_env_wires_the_hub_for_the_cluster(render, all_options, which):
    """The env the chart gives the hub, expanded as Kubernetes does, is what hub_config.cluster needs."""
    docs = render(*values_args(which, all_options), release="aiportal")
    services = _service_env(docs)
    hub_svc, api_svc = one(docs, "Service", "-hub"), one(docs, "Service", "-proxy-api")
    downward = {"status.podIP": "10.244.0.7", "metadata.namespace": "aiportal"}
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}  # in every pod
    # Docker-link variables Kubernetes injects too; the chart's own values must win over them
    links = {name.removesuffix("_SERVICE_HOST") + "_PORT": f"tcp://{ip}:1"
             for name, ip in services.items() if name.endswith("_SERVICE_HOST")}
    for e in container(docs, "-hub")["env"]:
        if "value" in e:
            env[e["name"]] = _expand(e["value"], {**services, **env})
        elif "fieldRef" in e["valueFrom"]:
            env[e["name"]] = downward[e["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            env[e["name"]] = "from-a-secret"
    for name, value in links.items():
        env.setdefault(name, value)
    # a release named aiportal: its Services' link variables are AIPORTAL_HUB_PORT, AIPORTAL_PROXY_API_PORT
    assert env["AIPORTAL_HUB_PORT"] == "8081"
    assert env["AIPORTAL_PROXY_API_PORT"] == str(api_svc["spec"]["ports"][0]["port"])
    c = Config()
    c.JupyterHub.hub_port = 8081  # as jupyterhub_config.py sets it, from AIPORTAL_HUB_PORT
    c.JupyterHub.services = [{"name": "portal", "url": "http://127.0.0.1:10101", "environment": {}}]
    cfg = portal_config.validate(yaml.safe_load(secret_text(one(docs, "Secret", "-config"), "portal.yaml")))
    cluster.apply(c, cfg, env)
    hub_ip = services[hub_svc["metadata"]["name"].upper().replace("-", "_") + "_SERVICE_HOST"]
    api_ip = services[api_svc["metadata"]["name"].upper().replace("-", "_") + "_SERVICE_HOST"]
    assert c.JupyterHub.hub_connect_url == f"http://{hub_ip}:8081"
    assert c.ConfigurableHTTPProxy.api_url == f"http://{api_ip}:{api_svc['spec']['ports'][0]['port']}"
    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.JupyterHub.services[0]["url"] == "http://10.244.0.7:10101"
    assert c.JupyterHub.services[0]["environment"] == {
        "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443", "POD_NAMESPACE": "aiportal"}
    assert c.JupyterHub.hub_bind_url == "http://0.0.0.0:8081"
    assert ("db_url" in c.JupyterHub) == (which == "all-options")  # postgres from a Secret
    assert ("authenticate_prometheus" in c.JupyterHub) == (which == "all-options")
    assert ("upgrade_db" in c.JupyterHub) == (which == "all-options")
    # the proxy routes unknown paths to the hub's Service by IP (no cluster DNS)
    proxy = container(docs, "-proxy")
    args = [_expand(a, services) for a in proxy["command"]]
    assert f"--default-target=http://{hub_ip}:8081" in args
    assert f"--api-port={api_svc['spec']['ports'][0]['port']}" in args


def test_unexpanded_service_variable_is_a_clear_error():
    env = {"POD_IP": "10.244.0.7", "CONFIGPROXY_AUTH_TOKEN": "t",
           "AIPORTAL_HUB_CONNECT_URL": "http://$(T_AIPORTAL_HUB_SERVICE_HOST):$(T_AIPORTAL_HUB_SERVICE_PORT)",
           "AIPORTAL_PROXY_API_URL": "http://10.0.0.2:8001"}
    cfg = portal_config.validate({"spawner": {"backend": "kubernetes"}, "storage": {"type": "minio", "endpoint": "http://s3:9000"}})
    with pytest.raises(cluster.ClusterConfigError, match="AIPORTAL_HUB_CONNECT_URL .* did not exist"):
        cluster.apply(Config(), cfg, env)
    with pytest.raises(cluster.ClusterConfigError, match="storage.endpoint is not set"):
        cluster.apply(Config(), portal_config.validate({"spawner": {"backend": "kubernetes"}}), env)


def test_hub_keeps_its_data_across_upgrades(render):
    docs = render()
    hub = one(docs, "Deployment", "-hub")
    assert hub["spec"]["strategy"] == {"type": "Recreate"}
    pvc = one(docs, "PersistentVolumeClaim", "-hub")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    volumes = {v["name"]: v for v in hub["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert {"name": "data", "mountPath": "/srv/aiportal"} in container(docs, "-hub")["volumeMounts"]


def test_changed_portal_yaml_restarts_the_hub(render):
    def checksum(*set_values):
        hub = one(render(set_values=set_values), "Deployment", "-hub")
        return hub["spec"]["template"]["metadata"]["annotations"]["checksum/portal-yaml"]
    assert checksum() == checksum()
    assert checksum() != checksum("portal.hub.named_server_limit=7")


def test_hub_may_manage_team_namespaces_and_their_contents(render):
    rules = one(render(), "ClusterRole")["rules"]
    granted = {(group, resource): set(rule["verbs"]) for rule in rules
               for group in rule["apiGroups"] for resource in rule["resources"]}
    assert granted[("", "namespaces")] == {"get", "list", "watch", "create", "patch", "update", "delete"}
    for resource in ("resourcequotas", "limitranges", "persistentvolumeclaims", "secrets", "serviceaccounts"):
        assert {"get", "create", "patch"} <= granted[("", resource)], resource
    assert {"get", "create", "patch"} <= granted[("networking.k8s.io", "networkpolicies")]
    assert {"get", "list", "watch", "create", "delete", "deletecollection"} <= granted[("", "pods")]
    assert {"delete"} <= granted[("", "secrets")] & granted[("", "resourcequotas")]  # a retired team
    assert "get" in granted[("", "pods/log")]
    assert {"get", "create"} <= granted[("", "pods/exec")]  # SSH sessions: a WebSocket exec is a GET + create
    assert {"get", "list", "watch"} <= granted[("", "events")]


def test_ssh_enabled_opens_the_port_and_a_service_for_users_machines(render):
    assert not [d for d in render() if d["metadata"]["name"].endswith("-ssh")]  # off by default
    docs = render(set_values=("portal.ssh.enabled=true", "portal.ssh.port=2022", "hub.sshService.nodePort=30022"))
    ports = {p["name"]: p["containerPort"] for p in container(docs, "-hub")["ports"]}
    assert ports["ssh"] == 2022
    service = one(docs, "Service", "-hub-ssh")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"] == [{"name": "ssh", "port": 22, "targetPort": "ssh", "nodePort": 30022}]
    assert service["spec"]["selector"] == one(docs, "Service", "-hub")["spec"]["selector"]
    # what the SSH keys page and `aiportal dev shell` tell users: the Service's port
    assert yaml.safe_load(secret_text(one(docs, "Secret", "-config"), "portal.yaml"))["ssh"]["public_port"] == 22
    docs = render(set_values=("portal.ssh.enabled=true", "portal.ssh.public_port=2200"))
    assert yaml.safe_load(secret_text(one(docs, "Secret", "-config"), "portal.yaml"))["ssh"]["public_port"] == 2200


def test_rbac_create_false_makes_no_rbac_objects(render):
    kinds = {d["kind"] for d in render(set_values=("rbac.create=false",))}
    assert not kinds & {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def test_pods_run_as_non_root(render):
    for suffix in ("-hub", "-proxy"):
        spec = one(render(), "Deployment", suffix)["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0


def test_dashboards_are_labelled_configmaps_of_the_generated_dashboards(render, all_options):
    """The chart ships what `aiportal ops dashboards` writes (tests/ops checks every query
    against a real Prometheus; tests/portal/test_metrics.py that every metric is exported)."""
    maps = [d for d in render(all_options) if d["kind"] == "ConfigMap"]
    assert maps and all(m["metadata"]["labels"]["grafana_dashboard"] == "1" for m in maps)
    shipped = {name: text for cm in maps for name, text in cm["data"].items()}
    assert {name: json.loads(text) for name, text in shipped.items()} == {
        name: json.loads(text) for name, text in dashboards.files().items()}
    assert not [d for d in render() if d["kind"] == "ConfigMap"]


def test_service_monitor_scrapes_the_hub_service(render, all_options):
    docs = render(all_options)
    monitor, hub_svc = one(docs, "ServiceMonitor"), one(docs, "Service", "-hub")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= hub_svc["metadata"]["labels"].items()
    assert not monitor["spec"]["selector"]["matchLabels"].items() <= one(
        docs, "Service", "-proxy-api")["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in hub_svc["spec"]["ports"]}
    assert monitor["spec"]["endpoints"][0]["path"] == "/hub/metrics"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    # the jobs the generated dashboards and alert rules select (portal/ops/scrape.py)
    hub, portal = monitor["spec"]["endpoints"]
    assert hub["relabelings"] == [{"targetLabel": "job", "replacement": "aiportal-hub"}]
    # the portal's metrics with the metrics token, on the hub pod's portal port
    assert portal["relabelings"] == [{"targetLabel": "job", "replacement": "aiportal-portal"}]
    assert portal["path"] == "/services/portal/metrics"
    assert portal["port"] in {p["name"] for p in hub_svc["spec"]["ports"]}
    assert portal["authorization"] == {"type": "Bearer", "credentials": {"name": "aiportal-metrics", "key": "scrape"}}
    assert {"name": "portal", "containerPort": 10101} in container(docs, "-hub")["ports"]
    assert {"aiportal-hub", "aiportal-portal"} == set(scrape.JOBS)
    # without a metrics token the portal's metrics cannot be read: no endpoint for them
    without = render(all_options, set_values=("metricsToken.existingSecret=null",))
    assert [e["port"] for e in one(without, "ServiceMonitor")["spec"]["endpoints"]] == ["http"]


def test_prometheus_rule_holds_the_generated_rules(render, all_options):
    rule = one(render(all_options), "PrometheusRule")
    assert rule["spec"] == rules.rule_file() and rule["metadata"]["labels"]["release"] == "prometheus"
    assert not [d for d in render() if d["kind"] == "PrometheusRule"]
