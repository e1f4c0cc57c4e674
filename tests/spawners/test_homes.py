"""Homes on the host: one stable uid per user, recorded as the home's owner."""

import os

import pytest

from spawners.homes import UID_BASE, account_files, ensure_home, write_account


def test_each_user_gets_a_distinct_uid_that_survives_a_restart(tmp_path):
    bob, carol = ensure_home(tmp_path, "bob"), ensure_home(tmp_path, "carol")
    assert bob.uid >= UID_BASE and carol.uid == bob.uid + 1 and bob.gid == bob.uid
    assert os.stat(bob.src).st_uid == bob.uid and oct(os.stat(bob.path).st_mode & 0o777) == "0o700"
    assert ensure_home(tmp_path, "bob") == bob  # read back from the filesystem, no other state


def test_a_home_made_by_a_host_account_is_handed_over(tmp_path):
    (tmp_path / "dave" / "src").mkdir(parents=True)
    (tmp_path / "dave" / "src" / "train.py").write_text("print(1)\n")
    dave = ensure_home(tmp_path, "dave")
    assert dave.uid >= UID_BASE
    assert os.stat(dave.src / "train.py").st_uid == dave.uid


@pytest.mark.parametrize("name", ["..", ".", "a/b", ""])
def test_names_that_are_not_a_folder_are_refused(tmp_path, name):
    with pytest.raises(ValueError):
        ensure_home(tmp_path, name)


def test_the_account_names_the_uid_with_its_home_and_bash_beside_root_and_nobody():
    files = account_files("bob", 200003, 200003)
    assert files["passwd"].splitlines() == [
        "root:x:0:0:root:/root:/bin/bash",
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
        "bob:x:200003:200003:bob:/home/bob:/bin/bash"]
    assert files["group"].splitlines() == ["root:x:0:", "nogroup:x:65534:", "bob:x:200003:"]


@pytest.mark.parametrize("name", ["a:b", "a\nroot:x:0:0::/:/bin/sh", "a b", ""])
def test_names_that_would_break_passwd_are_refused(name):
    with pytest.raises(ValueError):
        account_files(name, 200003, 200003)


def test_account_files_are_rewritten_whole_and_readable_by_the_container(tmp_path):
    bob = ensure_home(tmp_path / "homes", "bob")
    folder = write_account(tmp_path / "accounts", "bob", bob)
    again = write_account(tmp_path / "accounts", "bob", bob)
    assert folder == again == tmp_path / "accounts" / "bob"
    assert sorted(os.listdir(folder)) == ["group", "passwd"]  # no temporary file left
    assert f"bob:x:{bob.uid}:{bob.gid}:bob:/home/bob:/bin/bash" in (folder / "passwd").read_text()
    assert oct(os.stat(folder / "passwd").st_mode & 0o777) == "0o644"
