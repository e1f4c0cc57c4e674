"""container_spec: the whole container of a server, as plain dicts."""

from pathlib import Path

from spawners.container import container_spec, holdings, label
from spawners.homes import Home
from spawners.profiles import ResolvedProfile
from spawners.quotas import Holding

DEV = ResolvedProfile(team="team-a", profile="gpu", display_name="GPU", image="img:1", mode="dev",
                      cpu=2, memory=4 * 2**30, gpus=2, app="jupyter")
PROD = ResolvedProfile(**{**DEV.__dict__, "profile": "serve", "mode": "prod", "cpu": 0.5, "gpus": 0})
HOME = Home(Path("/data/homes/bob"), 200003, 200003)
ACCOUNT = Path("/data/accounts/bob")
ACCOUNT_BINDS = {"/data/accounts/bob/passwd": {"bind": "/etc/passwd", "mode": "ro"},
                 "/data/accounts/bob/group": {"bind": "/etc/group", "mode": "ro"}}
HUB_ENV = {"JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_API_URL": "http://host.containers.internal:8081/hub/api"}


def spec(profile, **kw):
    args = dict(name="aiportal-x-bob--work", portal="x", user="bob", server="work",
                command=["jupyterhub-singleuser"], env=HUB_ENV, home=HOME, account=ACCOUNT)
    return container_spec(profile, **{**args, **kw})


def test_dev_server_mounts_home_and_src_runs_as_the_named_user_with_limits_and_labels():
    assert spec(DEV, gpu_ids=("1", "3")) == {
        "image": "img:1",
        "name": "aiportal-x-bob--work",
        "command": ["jupyterhub-singleuser"],
        "user": "200003:200003",
        "working_dir": "/src",
        "environment": {**HUB_ENV, "HOME": "/home/bob", "USER": "bob", "SHELL": "/bin/bash",
                        "NVIDIA_VISIBLE_DEVICES": "1,3",
                        "CPU_LIMIT": "2", "MEM_LIMIT": str(4 * 2**30)},
        "labels": {"org.aiportal.portal": "x", "org.aiportal.team": "team-a", "org.aiportal.user": "bob",
                   "org.aiportal.server": "work", "org.aiportal.profile": "gpu", "org.aiportal.gpus": "1,3",
                   "org.aiportal.cpu": "2", "org.aiportal.memory": str(4 * 2**30)},
        "ports": [8888],
        "host_config": {
            "network_mode": "bridge",
            "port_bindings": {8888: ("127.0.0.1",)},
            "binds": {**ACCOUNT_BINDS,
                      "/data/homes/bob": {"bind": "/home/bob", "mode": "rw"},
                      "/data/homes/bob/src": {"bind": "/src", "mode": "rw"}},
            "nano_cpus": 2_000_000_000,
            "mem_limit": 4 * 2**30,
            "security_opt": ["no-new-privileges"],
        },
    }


def test_prod_server_is_named_but_gets_an_empty_home_in_memory_no_src_and_starts_in_code():
    s = spec(PROD)
    assert s["working_dir"] == "/code" and s["host_config"]["binds"] == ACCOUNT_BINDS
    assert s["host_config"]["tmpfs"] == {"/home/bob": "rw,mode=0700,U"}  # Podman chowns it to the user
    assert spec(PROD, engine="docker")["host_config"]["tmpfs"] == {
        "/home/bob": "rw,mode=0700,uid=200003,gid=200003"}
    assert (s["environment"]["HOME"], s["user"]) == ("/home/bob", "200003:200003")
    assert "tmpfs" not in spec(DEV)["host_config"]
    assert s["host_config"]["nano_cpus"] == 500_000_000
    assert s["environment"]["NVIDIA_VISIBLE_DEVICES"] == "void"  # no GPU, even from an image default
    assert (s["labels"]["org.aiportal.gpus"], s["labels"]["org.aiportal.cpu"]) == ("", "0.5")


def test_gpus_attach_as_cdi_devices_on_podman_and_device_requests_on_docker():
    podman = spec(DEV, gpu_ids=("0", "2"), attach_gpus=True)["host_config"]
    assert podman["devices"] == ["nvidia.com/gpu=0", "nvidia.com/gpu=2"]
    docker = spec(DEV, gpu_ids=("0", "2"), attach_gpus=True, engine="docker")["host_config"]
    assert docker["device_requests"] == [{"Driver": "nvidia", "DeviceIDs": ["0", "2"], "Capabilities": [["gpu"]]}]
    assert docker["extra_hosts"] == {"host.docker.internal": "host-gateway"}
    assert "devices" not in spec(DEV, gpu_ids=("0",))["host_config"]  # no CDI spec on the host
    assert "devices" not in spec(PROD, attach_gpus=True)["host_config"]


def test_the_servers_environment_cannot_override_what_the_spawner_decides():
    s = spec(DEV, env={**HUB_ENV, "HOME": "/src", "USER": "root", "SHELL": "/bin/sh",
                       "NVIDIA_VISIBLE_DEVICES": "all"}, gpu_ids=("1",))
    assert {k: s["environment"][k] for k in ("HOME", "USER", "SHELL", "NVIDIA_VISIBLE_DEVICES")} == {
        "HOME": "/home/bob", "USER": "bob", "SHELL": "/bin/bash", "NVIDIA_VISIBLE_DEVICES": "1"}


def test_holdings_read_back_from_the_labels_container_spec_writes():
    listing = [{"Names": ["/" + name], "Labels": spec(p, name=name, server=server, gpu_ids=gpus)["labels"]}
               for name, server, p, gpus in [("aiportal-x-bob--a", "a", DEV, ("0", "1")),
                                             ("aiportal-x-bob--b", "b", PROD, ())]]
    listing += [
        {"Names": ["/aiportal-x-bob--old"], "Labels": {label("team"): "team-a", label("user"): "bob",
                                                       label("server"): "old", label("gpus"): "2"}},
        {"Names": ["/unrelated"], "Labels": None},
        {"Names": ["/base-image-build"], "Labels": {"org.aiportal.image": "dev"}},
    ]
    assert holdings(listing) == {
        "bob/a": Holding("team-a", ("0", "1"), 2, 4 * 2**30),
        "bob/b": Holding("team-a", (), 0.5, 4 * 2**30),
        "bob/old": Holding("team-a", ("2",)),  # made before the cpu and memory labels
    }
