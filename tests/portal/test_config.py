"""portal.yaml validation through `aiportal config check`, as an operator runs it."""

import subprocess
import sys

import pytest
import yaml

from portal import config

GOOD = {"profiles": {"cpu": {"image": "img"}},
        "teams": [{"name": "team-a", "profiles": ["cpu"], "quota": {"gpus": 1}}]}


def check(tmp_path, text: str):
    path = tmp_path / "portal.yaml"
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "portal.cli", "config", "check", str(path)],
                          capture_output=True, text=True)


def test_default_config_is_valid(tmp_path):
    from importlib import resources
    r = check(tmp_path, resources.files("portal").joinpath("default_portal.yaml").read_text())
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


@pytest.mark.parametrize("mutate,expected", [
    (lambda c: c.update(colour="blue"), "(top level): unknown key ('colour' was unexpected)"),
    (lambda c: c["teams"][0].update(gpus=2), "teams[0]: unknown key ('gpus' was unexpected)"),
    (lambda c: c["teams"][0]["quota"].update(gpus="two"), "teams[0].quota.gpus: 'two' is not of type 'integer'"),
    (lambda c: c["teams"][0]["quota"].update(gpus=-1), "teams[0].quota.gpus: -1 is less than the minimum of 0"),
    (lambda c: c["teams"][0]["quota"].update(storage="-5G"), "teams[0].quota.storage"),
    (lambda c: c["teams"][0].update(name="Team_A"), "teams[0].name: 'Team_A' is not a valid team name"),
    (lambda c: c["teams"][0].update(name="-a"), "teams[0].name: '-a' is not a valid team name"),
    (lambda c: c["teams"][0].update(name="a" * 64), "is not a valid team name"),
    (lambda c: c["teams"].append({"name": "team-a"}), "teams[1].name: duplicate team 'team-a' (first at teams[0])"),
    (lambda c: c["teams"][0].update(profiles=["gpu"]),
     "teams[0].profiles[0]: profile 'gpu' is not defined under profiles"),
    (lambda c: c["profiles"]["cpu"].update(mode="debug"), "profiles.cpu.mode"),
    (lambda c: c.update(hub={"port": 70000}), "hub.port: 70000 is greater than the maximum of 65535"),
    (lambda c: c.update(spawner={"backend": "slurm"}),
     "spawner.backend: 'slurm' is not one of ['auto', 'podman', 'docker', 'local', 'kubernetes']"),
    (lambda c: c.update(spawner={"kubernetes": {"namespace_prefix": "Team_"}}),
     "spawner.kubernetes.namespace_prefix: 'Team_' does not match"),
    (lambda c: c.update(spawner={"kubernetes": {"home": {"size": "lots"}}}),
     "spawner.kubernetes.home.size: 'lots'"),
    (lambda c: c.update(spawner={"kubernetes": {"image_pull_secret": {"server": "r.example"}}}),
     "spawner.kubernetes.image_pull_secret: 'username' is a required property"),
    (lambda c: c.update(spawner={"socket": "/run/podman/podman.sock"}),
     "spawner.socket: '/run/podman/podman.sock' does not match '^(unix|tcp)://'"),
    (lambda c: c.update(gpus=["0", "0"]), "gpus: ['0', '0'] has non-unique elements"),
    (lambda c: c.update(gpus=[0, 1]), "gpus[0]: 0 is not of type 'string'"),
    (lambda c: c.update(database={"url": "mysql://portal:s3cret@db/x"}),
     "database.url: the value is not a database URL: use sqlite:///PATH or postgresql://"),
    (lambda c: c.update(hub={"db_url": "portal:s3cret@db"}), "hub.db_url: the value is not a database URL"),
])
def test_each_error_names_the_field(tmp_path, mutate, expected):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    mutate(data)
    r = check(tmp_path, yaml.safe_dump(data))
    assert r.returncode == 1
    assert expected in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "s3cret" not in r.stderr


def test_spawner_and_gpus_are_read():
    cfg = config.validate({**GOOD, "spawner": {"backend": "podman", "socket": "unix:///tmp/p.sock"},
                           "gpus": ["0", "3"]})
    assert (cfg.spawner_backend, cfg.spawner_socket, cfg.gpus) == ("podman", "unix:///tmp/p.sock", ("0", "3"))
    cfg = config.validate(GOOD)
    assert (cfg.spawner_backend, cfg.spawner_socket, cfg.gpus) == ("auto", None, None)  # nvidia-smi decides


def test_all_errors_reported_at_once(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["teams"] += [{"name": "team-a"}, {"name": "x", "profiles": ["nope"], "quota": {"cpu": -1}}]
    r = check(tmp_path, yaml.safe_dump(data))
    assert "4 problem(s)" in r.stderr, r.stderr  # 'x' is too short a name, a duplicate, 'nope', cpu


def test_invalid_yaml_and_missing_file(tmp_path):
    r = check(tmp_path, "teams: [\n")
    assert r.returncode == 1 and "invalid YAML" in r.stderr and "line" in r.stderr
    r = subprocess.run([sys.executable, "-m", "portal.cli", "config", "check", str(tmp_path / "no.yaml")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "cannot read file" in r.stderr


def test_quantities():
    assert config.parse_quantity("8Gi") == 8 * 2**30
    assert config.parse_quantity("500G") == 500 * 10**9
    assert config.parse_quantity(1024) == 1024
    with pytest.raises(ValueError):
        config.parse_quantity("8 gigs")


def test_admins_are_members():
    cfg = config.validate({"teams": [{"name": "abc", "admins": ["x"], "members": ["y"]}]})
    assert cfg.teams["abc"].members == ("y", "x")


@pytest.mark.parametrize("name", ["ta", "x" * 64, "xn--team", "team-s3alias", "Team-A", "team_a", "-team"])
def test_team_names_follow_the_bucket_rules(name):
    """A name the schema accepts must be a valid bucket: `ta` once passed, then the service died."""
    with pytest.raises(config.ConfigError) as e:
        config.validate({"teams": [{"name": name}]})
    assert e.value.problems == [f"teams[0].name: {name!r} is not a valid team name: 3-63 lowercase letters, "
                                "digits and '-', starting and ending with a letter or digit (it names an S3 "
                                "bucket and a Kubernetes namespace; no 'xn--' prefix, no '-s3alias' suffix)"]


def test_defaults_come_from_the_schema():
    """Every default the config uses is the schema's own `default`."""
    cfg = config.validate({"profiles": {"plain": {"image": "x"}}, "teams": [{"name": "abc"}]})
    defaults = config.SCHEMA["$defs"]["profile"]["properties"]
    plain = cfg.profiles["plain"]
    assert (plain.mode, plain.cpu, plain.gpus, plain.app) == tuple(
        defaults[k]["default"] for k in ("mode", "cpu", "gpus", "app"))
    assert plain.memory == config.parse_quantity(defaults["memory"]["default"])
    hub = config.SCHEMA["properties"]["hub"]["properties"]
    assert (cfg.hub_port, cfg.admin_users) == (hub["port"]["default"], tuple(hub["admin_users"]["default"]))
    assert cfg.teams["abc"].delete_policy == config.SCHEMA["$defs"]["team"]["properties"]["delete_policy"]["default"]


@pytest.mark.parametrize("quota,problem", [({"storage": "9000P"}, "outside 0 to"), ({"gpus": 5000}, "maximum")])
def test_limits_are_bounded(quota, problem):
    with pytest.raises(config.ConfigError) as e:
        config.validate({"teams": [{"name": "abc", "quota": quota}]})
    assert problem in e.value.problems[0]


def test_config_defaults_prints_the_schemas_defaults():
    r = subprocess.run([sys.executable, "-m", "portal.cli", "config", "defaults"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    printed = yaml.safe_load(r.stdout)
    assert printed["hub"]["port"] == config.SCHEMA["properties"]["hub"]["properties"]["port"]["default"]
    assert config.validate(printed).raw == config.validate({}).raw  # a valid file, the same as an empty one


def test_the_shipped_portal_yaml_restates_no_default():
    """The file written on a first start holds only what differs from the schema's defaults."""
    from importlib import resources

    shipped = yaml.safe_load(resources.files("portal").joinpath("default_portal.yaml").read_text())
    defaults = config.with_defaults(config.SCHEMA, {})
    for section, values in shipped.items():
        if isinstance(values, dict) and section in defaults and section != "profiles":
            assert not {k: v for k, v in values.items() if defaults[section].get(k) == v}, section
    for name, profile in shipped["profiles"].items():
        declared = config.SCHEMA["$defs"]["profile"]["properties"]
        assert not [k for k, v in profile.items() if declared[k].get("default") == v], name
