"""Homes on the host: one stable uid per user, recorded as the home's owner."""

import os

import pytest

from spawners.homes import UID_BASE, ensure_home


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
