"""Servers as Podman containers on the session portal: /src, prod mode, limits, GPUs, and the
teams' GPU, CPU and memory quotas."""

import json
import os
import subprocess

from portal.storage import store_from_config
from spawners.container import label
from spawners.homes import UID_BASE
from tests.spawners.servers import (
    containers,
    hub,
    inspect,
    start,
    start_at_once,
    stop,
    team_quota,
    wait_gone,
    wait_ready,
)

QUOTA_REFUSAL = "team team-a uses 2 of 2 GPUs and this profile needs 1: stop a server or ask an operator"
GiB = 2**30


def portal_secrets(root) -> set[str]:
    """Every secret the portal keeps: hub and proxy secrets, passwords, the S3 admin keys."""
    found = {p.read_text().strip() for p in (root / "secrets").iterdir() if p.is_file()}
    return found | set(json.loads((root / "s3" / "s3-admin.json").read_text()).values())


def container_env(c) -> dict[str, str]:
    return dict(e.split("=", 1) for e in c["Config"]["Env"])


def test_dev_server_works_in_src_as_the_user(portal, token, stop_all):
    s = hub(portal, token, "bob")
    assert start(s, "bob", "dev", "team-a", "cpu").status_code in (201, 202)
    wait_ready(s, "bob", "dev")
    r = s.put(f"{portal.url}user/bob/dev/api/contents/notes.txt",
              json={"type": "file", "format": "text", "content": "hello"})
    assert r.status_code == 201, r.text

    home, src = portal.data.home("bob"), portal.data.home("bob") / "src"
    written = os.stat(src / "notes.txt")
    assert written.st_uid >= UID_BASE and written.st_uid == os.stat(home).st_uid  # the user's own uid
    assert (src / "notes.txt").read_text() == "hello"
    assert sorted(os.listdir(src)) == ["notes.txt"]  # HOME is not /src: no dotfiles in the source

    c = inspect(portal, "bob", "dev")
    assert c["Config"]["User"] == f"{written.st_uid}:{written.st_gid}"
    assert c["Config"]["WorkingDir"] == "/src"
    account = portal.data.root / "accounts" / "bob"  # bob's passwd and group, read-only
    assert sorted((m["Source"], m["Destination"], m["RW"]) for m in c["Mounts"]) == sorted([
        (str(home), "/home/bob", True), (str(src), "/src", True),
        (str(account / "passwd"), "/etc/passwd", False), (str(account / "group"), "/etc/group", False)])
    assert (c["HostConfig"]["NanoCpus"], c["HostConfig"]["Memory"]) == (10**9, 2**30)
    labels = c["Config"]["Labels"]  # the image's own org.aiportal.* labels are there too
    assert {k: labels[label(k)] for k in ("portal", "team", "user", "server", "profile", "gpus")} == {
        "portal": portal.data.instance_id, "team": "team-a", "user": "bob", "server": "dev",
        "profile": "cpu", "gpus": ""}
    env = container_env(c)
    assert not [k for k in env if k.startswith(("AIPORTAL_", "CONFIGPROXY_", "MINIO_"))]
    admin = store_from_config(portal.config, portal.data.root)._admin
    assert env["S3_BUCKET"] == "team-a" and env["AWS_ACCESS_KEY_ID"] != admin.access_key  # team keys only
    assert env["AWS_ENDPOINT_URL"] == f"http://host.containers.internal:{portal.config.storage_port}"
    assert admin.secret_key not in env.values()
    leaked = [k for k, v in env.items() for secret in portal_secrets(portal.data.root) if secret in v]
    assert leaked == []
    stop(s, "bob", "dev")
    assert containers(portal, user="bob") == []
    assert (src / "notes.txt").exists()  # the work outlives the container


def test_prod_server_runs_code_without_src(portal, token, stop_all):
    s = hub(portal, token, "alice")
    assert start(s, "alice", "serve", "team-a", "prod").status_code in (201, 202)
    wait_ready(s, "alice", "serve")
    r = s.put(f"{portal.url}user/alice/serve/api/contents/model.txt",
              json={"type": "file", "format": "text", "content": "weights"})
    assert r.status_code == 201, r.text
    c = inspect(portal, "alice", "serve")
    assert c["Config"]["WorkingDir"] == "/code"
    assert sorted(m["Destination"] for m in c["Mounts"] if m["Type"] == "bind") == ["/etc/group", "/etc/passwd"]
    assert not (portal.data.home("alice") / "src" / "model.txt").exists()


def test_gpu_quota_holds_under_concurrent_spawns(portal, token, stop_all):
    wanted = [(user, f"race{i}") for user in ("alice", "bob") for i in range(3)]
    started, refused = start_at_once(portal, token, wanted, "team-a", "gpu")
    assert (len(started), refused) == (2, [QUOTA_REFUSAL] * 4)
    gpus = []
    for user, server in started:
        wait_ready(hub(portal, token, user), user, server)
        c = inspect(portal, user, server)
        assert container_env(c)["NVIDIA_VISIBLE_DEVICES"] == c["Config"]["Labels"][label("gpus")]
        gpus.append(c["Config"]["Labels"][label("gpus")])
    assert len(set(gpus)) == 2 and set(gpus) <= set(portal.config.gpus)  # exclusive ids
    assert len(containers(portal, team="team-a")) == 2


def test_gpus_return_when_a_server_stops_or_its_container_dies(portal, token, stop_all):
    alice, bob = hub(portal, token, "alice"), hub(portal, token, "bob")
    for s, user in ((alice, "alice"), (bob, "bob")):
        assert start(s, user, "g1", "team-a", "gpu").status_code in (201, 202)
        wait_ready(s, user, "g1")
    r = start(alice, "alice", "g2", "team-a", "gpu")
    assert (r.status_code, r.json()["message"]) == (400, QUOTA_REFUSAL)

    stop(alice, "alice", "g1")
    assert start(alice, "alice", "g2", "team-a", "gpu").status_code in (201, 202)
    wait_ready(alice, "alice", "g2")

    killed = inspect(portal, "bob", "g1")["Id"]
    subprocess.run(["podman", "kill", killed], check=True, capture_output=True)  # from outside the portal
    assert start(bob, "bob", "g2", "team-a", "gpu").status_code in (201, 202)  # its GPU is free at once
    wait_ready(bob, "bob", "g2")
    wait_gone(bob, "bob", "g1", timeout=30)  # the hub's next poll notices the death
    assert containers(portal, user="bob", server="g1") == []  # and removes the dead container


def test_cpu_quota_holds_under_concurrent_spawns(portal, token, stop_all):
    with team_quota(portal, token, "team-b", cpu=2):  # set while the portal runs: the next spawns obey it
        started, refused = start_at_once(portal, token, [("carol", f"cpu{i}") for i in range(4)], "team-b", "cpu")
    assert (len(started), refused) == (2, [
        "team team-b uses 2 of 2 CPUs and this profile needs 1: stop a server or ask an operator"] * 2)
    for user, server in started:
        wait_ready(hub(portal, token, user), user, server)
        c = inspect(portal, user, server)  # what the ledger counts is what the engine enforces
        assert (c["Config"]["Labels"][label("cpu")], c["HostConfig"]["NanoCpus"]) == ("1", 10**9)


def test_memory_quota_holds_and_a_raised_quota_applies_to_the_next_spawn(portal, token, stop_all):
    carol = hub(portal, token, "carol")
    with team_quota(portal, token, "team-b", memory=3 * GiB // 2):
        assert start(carol, "carol", "m1", "team-b", "cpu").status_code in (201, 202)
        r = start(carol, "carol", "m2", "team-b", "cpu")
        assert (r.status_code, r.json()["message"]) == (400, (
            "team team-b uses 1 GiB of 1.5 GiB memory and this profile needs 1 GiB: stop a server or ask an operator"))
        with team_quota(portal, token, "team-b", memory=2 * GiB):
            assert start(carol, "carol", "m2", "team-b", "cpu").status_code in (201, 202)
    for server in ("m1", "m2"):
        wait_ready(carol, "carol", server)
        c = inspect(portal, "carol", server)
        assert (c["Config"]["Labels"][label("memory")], c["HostConfig"]["Memory"]) == (str(GiB), GiB)


def test_member_of_another_team_cannot_use_its_gpus(portal, token, stop_all):
    s = hub(portal, token, "carol")
    r = start(s, "carol", "steal", "team-a", "gpu")
    assert (r.status_code, r.json()["message"]) == (400, "team: you are not a member of team 'team-a'")
    assert containers(portal, user="carol") == []


def test_an_image_the_engine_lacks_is_a_clear_error_not_a_traceback(portal, token, stop_all):
    s = hub(portal, token, "carol")
    r = start(s, "carol", "broken", "team-b", "missing")
    assert r.status_code == 500 and r.json()["message"].startswith(
        "the container engine could not start localhost/aiportal-missing:none: "), r.text
    assert "broken" not in s.get(f"{s.base}/users/carol").json()["servers"]
    assert containers(portal, user="carol") == []


def test_a_server_over_its_memory_limit_dies_and_the_user_is_told(portal, token, stop_all):
    s = hub(portal, token, "carol")
    r = start(s, "carol", "tiny", "team-b", "tiny")  # 24 MiB: the limit is enforced, Jupyter is killed
    assert r.status_code == 500 and r.json()["message"].startswith(
        "the server exited while starting (ExitCode=137"), r.text
    assert containers(portal, user="carol") == []
