"""The dev container as a workstation: a named account with a home that outlives the server,
bash, git, an editor, and the team's bucket listed with one command; prod mode is named too
but keeps nothing of the user's. Commands run in the server's container as its terminals do."""

import io
import os
import uuid

from portal.storage import store_from_config
from tests.spawners.servers import engine, hub, inspect, start, stop, wait_ready

SHELL_CHECK = "whoami; echo $HOME; echo $SHELL; pwd"


def run(portal, user, server, command: str) -> tuple[int, str]:
    """`command` in bash in the server's container, as the server's own user (an exec)."""
    cid = inspect(portal, user, server)["Id"]
    with engine(portal) as client:
        exec_id = client.exec_create(cid, ["bash", "-c", command])["Id"]
        out = client.exec_start(exec_id).decode()
        return client.exec_inspect(exec_id)["ExitCode"], out


def put_object(portal, bucket: str, key: str, data: bytes) -> None:
    """As the operator would, with the S3 admin keys (never given to servers)."""
    store = store_from_config(portal.config, portal.data.root)
    store.ensure_bucket(bucket)
    store.client().put_object(bucket, key, io.BytesIO(data), len(data))


def test_dev_server_is_a_named_account_with_a_home_that_survives_a_restart(portal, token, stop_all):
    s = hub(portal, token, "bob")
    assert start(s, "bob", "ws", "team-a", "cpu").status_code in (201, 202)
    wait_ready(s, "bob", "ws")
    code, out = run(portal, "bob", "ws", f"{SHELL_CHECK}; id -un; id -gn; ls -ld ~ | cut -d' ' -f3,4; "
                                         "echo 'root2::0:0::/:/bin/sh' 2>/dev/null >> /etc/passwd || echo read-only")
    assert (code, out.split()[:8]) == (0, ["bob", "/home/bob", "/bin/bash", "/src", "bob", "bob", "bob", "bob"])
    assert out.splitlines()[-1] == "read-only"  # the account cannot be changed from inside

    note, host_home = uuid.uuid4().hex, portal.data.home("bob")
    try:
        code, out = run(portal, "bob", "ws", f"echo {note} > ~/.workstation-note && git config --global "
                                             "user.name Bob && touch ~/src/from-home.txt")
        assert code == 0, out
        assert os.stat(host_home / ".workstation-note").st_uid == os.stat(host_home).st_uid  # the user's
        assert (host_home / "src" / "from-home.txt").exists()  # ~/src is /src

        stop(s, "bob", "ws")
        assert start(s, "bob", "ws", "team-a", "cpu").status_code in (201, 202)
        wait_ready(s, "bob", "ws")
        code, out = run(portal, "bob", "ws", "cat ~/.workstation-note; git config --global user.name; "
                                             "ls /src/from-home.txt")
        assert (code, out.splitlines()) == (0, [note, "Bob", "/src/from-home.txt"])
        stop(s, "bob", "ws")
    finally:
        for name in (".workstation-note", "src/from-home.txt"):
            (host_home / name).unlink(missing_ok=True)


def test_the_image_has_bash_git_editors_and_lists_the_team_bucket_only(portal, token, stop_all):
    key = f"workstation/{uuid.uuid4().hex}.csv"
    put_object(portal, "team-a", key, b"a,b\n1,2\n")
    put_object(portal, "team-b", "workstation/secret.csv", b"not for team-a\n")
    s = hub(portal, token, "bob")
    assert start(s, "bob", "tools", "team-a", "cpu").status_code in (201, 202)
    wait_ready(s, "bob", "tools")

    code, out = run(portal, "bob", "tools", "bash --version | head -1; git --version; command -v nano vi")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("GNU bash, version 5.") and lines[1].startswith("git version 2.")
    assert lines[2:] == ["/usr/bin/nano", "/usr/bin/vi"]

    code, out = run(portal, "bob", "tools", "s3ls")  # the documented one-liner: $S3_BUCKET by default
    assert code == 0 and key in out and "secret.csv" not in out, out
    assert next(line for line in out.splitlines() if key in line).split()[0] == "8"  # size first
    code, out = run(portal, "bob", "tools", "s3ls s3://team-a/workstation/")
    assert code == 0 and key in out, out
    code, out = run(portal, "bob", "tools", "s3ls s3://team-b")
    assert code == 1 and out.startswith("s3ls: team-b: ") and "AccessDenied" in out, out
    code, out = run(portal, "bob", "tools",  # boto3 alone, as in the docs
                    """python -c 'import boto3, os; print([o["Key"] for o in boto3.client("s3")"""
                    """.list_objects_v2(Bucket=os.environ["S3_BUCKET"])["Contents"]])'""")
    assert code == 0 and key in out, out
    code, out = run(portal, "bob", "tools",
                    """python -c 'import s3fs, os; """
                    """print(s3fs.S3FileSystem().ls(os.environ["S3_BUCKET"] + "/workstation"))'""")
    assert code == 0 and f"team-a/{key}" in out, out


def test_prod_server_is_named_but_its_home_is_empty_and_in_memory(portal, token, stop_all):
    s = hub(portal, token, "alice")
    assert start(s, "alice", "ws-dev", "team-a", "cpu").status_code in (201, 202)
    wait_ready(s, "alice", "ws-dev")
    try:
        assert run(portal, "alice", "ws-dev", "echo dev > ~/dev-only.txt")[0] == 0
        stop(s, "alice", "ws-dev")

        assert start(s, "alice", "ws-prod", "team-a", "prod").status_code in (201, 202)
        wait_ready(s, "alice", "ws-prod")
        code, out = run(portal, "alice", "ws-prod", f"{SHELL_CHECK}; ls -A ~ | grep -c dev-only; "
                                                     "echo x > ~/scratch && echo writable")
        assert out.split() == ["alice", "/home/alice", "/bin/bash", "/code", "0", "writable"], out
        c = inspect(portal, "alice", "ws-prod")
        assert "/home/alice" in c["HostConfig"]["Tmpfs"]
        assert sorted(m["Destination"] for m in c["Mounts"] if m["Type"] == "bind") == ["/etc/group", "/etc/passwd"]
        stop(s, "alice", "ws-prod")
        assert not (portal.data.home("alice") / "scratch").exists()
    finally:
        (portal.data.home("alice") / "dev-only.txt").unlink(missing_ok=True)
