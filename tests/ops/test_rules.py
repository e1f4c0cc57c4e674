"""`aiportal ops rules`: the rule file passes `promtool check rules`, and every rule of every
group passes its promtool unit test (tests/ops/rules/<group>.test.yml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from portal.cli import main
from portal.ops.rules import GROUPS, render

UNIT_TESTS = Path(__file__).parent / "rules"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def unit_test(tmp_path: Path, group: str, rules: str) -> subprocess.CompletedProcess:
    """promtool test rules on the group's unit test, next to `rules` as rules.yml."""
    (tmp_path / "rules.yml").write_text(rules)
    shutil.copy(UNIT_TESTS / f"{group}.test.yml", tmp_path)
    return promtool("test", "rules", f"{group}.test.yml", cwd=tmp_path)


def test_the_printed_rule_file_passes_promtool_check(tmp_path, capsys):
    assert main(["ops", "rules"]) == 0
    (tmp_path / "rules.yml").write_text(capsys.readouterr().out)
    result = promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(map(len, GROUPS.values()))} rules found" in result.stdout


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_group_passes_its_promtool_unit_test(tmp_path, group):
    result = unit_test(tmp_path, group, render())
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_a_unit_test_where_it_fires():
    assert {p.name.removesuffix(".test.yml") for p in UNIT_TESTS.glob("*.test.yml")} == set(GROUPS)
    for group, rules in GROUPS.items():
        tests = yaml.safe_load((UNIT_TESTS / f"{group}.test.yml").read_text())["tests"]
        fired = {check["alertname"] for test in tests for check in test.get("alert_rule_test", [])
                 if check.get("exp_alerts")}
        assert fired == {rule.alert for rule in rules}, group


def test_unit_tests_catch_a_rule_that_fires_too_soon(tmp_path):
    result = unit_test(tmp_path, "aiportal-availability", render(hold="0s"))
    assert result.returncode != 0 and "AiportalStorageDown" in result.stdout + result.stderr


def test_a_bad_hold_is_refused_naming_the_option(capsys):
    assert main(["ops", "rules", "--for", "soon"]) == 1
    assert "--for" in capsys.readouterr().err
