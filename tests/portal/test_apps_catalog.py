"""The app catalog as data (portal/apps): loading app files, reporting broken ones with their
path and reason while the rest load, `aiportal apps check`, and launch-request validation
(portal.apps.validate_launch) against hostile input. Pure: no portal is started."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from portal import config as portal_config
from portal.apps import Launch, LaunchError, catalog_for, load_catalog, validate_launch
from portal.apps.loader import BUILTIN
from portal.apps.schema import APP_SCHEMA, VALIDATOR
from portal.openapi import document
from tests.conftest import ROOT, TEST_CONFIG

BUILTIN_IDS = ["desktop", "jupyterlab", "label-studio"]  # portal/apps/builtin, in load order

PROFILES = portal_config.validate(TEST_CONFIG).profiles  # cpu, gpu (1 GPU), tiny, missing: dev; prod: prod
GIB = 2**30
#: The caller's teams as the hub's group properties hold them.
TEAMS = {"team-a": {"profiles": ["cpu", "gpu", "prod"], "quota": {"gpus": 2}},
         "team-b": {"profiles": ["cpu", "undeclared"]}}
VIEWER = {
    "id": "viewer", "name": "Viewer", "icon": "microscope", "category": "Imaging",
    "run": {"image": "localhost/viewer:1", "resources": {"cpu": 2, "memory": "4Gi"}},
    "url": "/desktop/", "walltime": {"default_hours": 2, "max_hours": 8}, "teams": ["team-a"],
    "form": [
        {"id": "hours", "kind": "hours", "label": "Hours"},
        {"id": "gpus", "kind": "gpus", "label": "GPUs", "max": 2},
        {"id": "zoom", "kind": "number", "label": "Zoom", "min": 0.1, "max": 1, "step": 0.1, "default": 0.5},
        {"id": "layout", "kind": "select", "label": "Layout",
         "choices": ["single", {"value": "grid", "label": "Grid"}]},
        {"id": "slide", "kind": "text", "label": "Slide", "maxLength": 20, "pattern": "[a-z0-9-]+", "default": "first"},
        {"id": "note", "kind": "text", "label": "Note", "maxLength": 100},
    ],
}


def write(folder: Path, name: str, data) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def changed(mutate) -> dict:
    data = copy.deepcopy(VIEWER)
    mutate(data)
    return data


def viewer(tmp_path, mutate=lambda d: None):
    catalog = load_catalog(write(tmp_path / "apps", "viewer.yaml", changed(mutate)).parent, PROFILES)
    assert catalog.broken == (), catalog.broken
    return catalog.apps["viewer"]


@pytest.fixture(scope="module")
def jupyterlab():
    return load_catalog(None, PROFILES).apps["jupyterlab"]


# --- loading ---------------------------------------------------------------------------


def test_the_builtins_are_jupyterlab_in_a_dev_profile_and_the_desktop_and_label_studio_images(jupyterlab):
    """Only apps whose images `make images` builds are shipped (vLLM is in portal/apps/extra)."""
    catalog = load_catalog(None, PROFILES)
    assert list(catalog.apps) == BUILTIN_IDS and catalog.broken == ()
    assert (jupyterlab.profile, jupyterlab.image, jupyterlab.field("profile").mode, jupyterlab.url) == (
        None, None, "dev", "/lab")
    desktop, label_studio = catalog.apps["desktop"], catalog.apps["label-studio"]
    assert (desktop.image, desktop.url, label_studio.image, label_studio.url) == (
        "localhost/aiportal-desktop:latest", "/desktop/", "localhost/aiportal-label-studio:latest", "/label-studio/")
    for app in (desktop, label_studio):
        assert (ROOT / "images" / app.image.split("-", 1)[1].split(":")[0] / "Containerfile").is_file()


def test_the_extra_vllm_app_loads():
    vllm = load_catalog(BUILTIN.parent / "extra", PROFILES).apps["vllm"]
    assert (vllm.image, vllm.url, vllm.field("gpus").max) == ("localhost/aiportal-vllm:latest", "/vllm/v1/models", 4)
    assert (ROOT / "images" / "vllm" / "Containerfile").read_text().startswith("# aiportal-build: on-request\n")
    assert sorted(p.name for p in BUILTIN.iterdir()) == [f"{i}.yaml" for i in BUILTIN_IDS]


def test_app_schema_is_a_valid_schema_whose_shared_shapes_come_from_portal_yaml():
    VALIDATOR.check_schema(APP_SCHEMA)
    assert APP_SCHEMA["$defs"]["name"] == {"$ref": "https://aiportal.local/portal.schema.json#/$defs/name"}


def test_a_valid_app_gets_the_schemas_defaults(tmp_path):
    app = viewer(tmp_path, lambda d: [d.pop(k) for k in ("icon", "category", "teams")])
    assert (app.icon, app.category, app.description, app.teams, app.idle_timeout, app.max_sessions) == (
        "app", "Interactive apps", "", None, 0, 1)
    assert app.resources == {"cpu": 2, "memory": 4 * GIB, "gpus": 0}
    hours, gpus, zoom, layout, slide, note = app.form
    assert (hours.default, hours.min, hours.max, gpus.default, gpus.min) == (2, 1, 8, 0, 0)
    assert (layout.default, layout.choices) == ("single", (("single", "single"), ("grid", "Grid")))
    assert (note.default, note.help, zoom.as_json()) == ("", "", {
        "id": "zoom", "kind": "number", "label": "Zoom", "help": "", "default": 0.5, "min": 0.1, "max": 1, "step": 0.1})


def _remove_run(d):
    d.pop("run")
    d["form"].pop(1)


BROKEN = [
    ("id: [unclosed\n", "line 2, column 1: invalid YAML"),
    ("!!python/object/apply:os.system ['true']\n", "line 1, column 1: invalid YAML: could not determine a constructor"),
    ("- a list\n", "(top level): ['a list'] is not of type 'object'"),
    ("", "(top level): None is not of type 'object'"),
    (lambda d: d.update(colour="red"), "(top level): unknown key ('colour' was unexpected)"),
    (lambda d: d.update(id="../etc"), "id: '../etc' is not an app id"),
    (lambda d: d.update(id="a--b"), "id: 'a--b' is not an app id"),
    (lambda d: d.update(name=""), "name: '' should be non-empty"),
    (lambda d: d.update(url="/../hub/admin"), "url: '/../hub/admin' is not a path inside the server"),
    (lambda d: d.update(url="https://evil.example/"), "url: 'https://evil.example/' is not a path inside"),
    (lambda d: d.update(walltime={"default_hours": 10, "max_hours": 8}),
     "walltime.default_hours: 10 is above max_hours (8)"),
    (lambda d: d.update(walltime={"default_hours": 1, "max_hours": 1000}),
     "walltime.max_hours: 1000 is greater than the maximum of 720"),
    (lambda d: d.pop("walltime"), "(top level): 'walltime' is a required property"),
    (lambda d: d.update(idle_timeout="forever"), "idle_timeout: 'forever' is not a duration"),
    (lambda d: d.update(max_sessions=0), "max_sessions: 0 is less than the minimum of 1"),
    (lambda d: d.update(teams=["Team A"]), "teams: ['Team A'] is not 'all' or a list of team names"),
    (lambda d: d.update(teams="some"), "teams: 'some' is not 'all' or a list of team names"),
    (lambda d: d.update(icon="../../etc/x.svg"), "icon: '../../etc/x.svg' is not an icon"),
    (lambda d: d.update(icon="javascript"), "icon: 'javascript' is not an icon"),
    (lambda d: d.update(icon="missing.svg"), "icon: no file 'missing.svg' beside the app file"),
    (lambda d: d["run"].update(profile="cpu"), "run: give exactly one of run.profile, run.image or a form field "
                                               "of kind profile (run.profile, run.image)"),
    (_remove_run, "run: give exactly one of run.profile, run.image or a form field of kind profile (none given)"),
    (lambda d: d.update(run={"profile": "nope"}), "run.profile: profile 'nope' is not defined under profiles"),
    (lambda d: d.update(run={"profile": "cpu", "resources": {"cpu": 1}}), "run.resources: only with run.image"),
    (lambda d: d["run"]["resources"].update(memory="lots"), "run.resources.memory: 'lots' does not match"),
    (lambda d: d["run"]["resources"].update(memory="9999999999999999Pi"),
     "run.resources.memory: '9999999999999999Pi' is outside 0 to"),
    (lambda d: d["form"].append({"id": "zoom", "kind": "text", "label": "Again", "maxLength": 5}),
     "form[6].id: duplicate field id 'zoom' (first at form[2])"),
    (lambda d: d["form"].append({"id": "more", "kind": "hours", "label": "More"}),
     "form[6].kind: a second field of kind hours (first at form[0])"),
    (lambda d: d.update(run={"profile": "cpu"}), "form[1].kind: a gpus field needs run.image"),
    (lambda d: d["form"].append({"id": "team", "kind": "text", "label": "Team", "maxLength": 5}),
     "form[6].id: 'team' is not a field id"),
    (lambda d: d["form"].append({"id": "x", "kind": "slider", "label": "X"}), "form[6].kind: 'slider' is not one of"),
    (lambda d: d["form"][0].update(default=9), "form[0].default: 9 is above the app's maximum walltime of 8 hours"),
    (lambda d: d["form"][1].update(default=3), "form[1].default: 3 is above the maximum of 2"),
    (lambda d: d["form"][1].pop("max"), "form[1]: 'max' is a required property"),
    (lambda d: d["form"][2].update(min=2), "form[2].min: 2 is above max (1)"),
    (lambda d: d["form"][2].update(default=0.55),
     "form[2].default: 0.55 is not 0.1 plus a whole number of steps of 0.1"),
    (lambda d: d["form"][2].update(default=5), "form[2].default: 5 is above the maximum of 1"),
    (lambda d: d["form"][2].update(choices=["a"]), "form[2]: Unevaluated properties are not allowed ('choices'"),
    (lambda d: d["form"][2].update(step=0), "form[2].step: 0 is less than or equal to the minimum of 0"),
    (lambda d: d["form"][3].update(default="tiles"), "form[3].default: 'tiles' is not one of the choices: 'single', "
                                                     "'grid'"),
    (lambda d: d["form"][3]["choices"].append("single"), "form[3].choices: a value is listed twice"),
    (lambda d: d["form"][3].update(choices=[]), "form[3].choices: [] should be non-empty"),
    (lambda d: d["form"][4].update(default="Bad Name"), "form[4].default: 'Bad Name' does not match the pattern"),
    (lambda d: d["form"][4].update(pattern="["), "form[4].pattern: not a regular expression"),
    (lambda d: d["form"][4].update(default="a" * 21), "form[4].default: is longer than 20 characters"),
    (lambda d: d["form"][5].pop("maxLength"), "form[5]: 'maxLength' is a required property"),
    (lambda d: d["form"][5].update(default="two\nlines"), "form[5].default: contains control characters"),
]


@pytest.mark.parametrize("content,reason", BROKEN, ids=[r for _, r in BROKEN])
def test_a_broken_app_file_is_reported_and_the_others_still_load(tmp_path, content, reason):
    folder = tmp_path / "apps"
    write(folder, "a-good.yaml", dict(VIEWER, id="good"))
    bad = write(folder, "bad.yaml", content if isinstance(content, str) else changed(content))
    write(folder, "z-good.yml", dict(VIEWER, id="also-good"))
    catalog = load_catalog(folder, PROFILES)
    assert list(catalog.apps) == [*BUILTIN_IDS, "good", "also-good"]
    assert [b.path for b in catalog.broken] == [str(bad)]
    assert any(p.startswith(reason) for p in catalog.broken[0].problems), catalog.broken[0].problems


@pytest.mark.parametrize("mode,default", [("dev", "nope"), ("dev", "prod")])
def test_a_profile_fields_default_must_be_a_profile_of_its_mode(tmp_path, mode, default):
    data = {"id": "lab", "name": "Lab", "url": "/lab", "walltime": {"default_hours": 1, "max_hours": 2},
            "form": [{"id": "profile", "kind": "profile", "label": "P", "mode": mode, "default": default}]}
    catalog = load_catalog(write(tmp_path, "lab.yaml", data).parent, PROFILES)
    assert catalog.broken[0].problems == (f"form[0].default: {default!r} is not a dev-mode profile of portal.yaml",)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    data = changed(lambda d: (d["form"][1].update(default=3), d["form"][3].update(default="tiles")))
    catalog = load_catalog(write(tmp_path, "viewer.yaml", data).parent, PROFILES)
    assert [p.split(":")[0] for p in catalog.broken[0].problems] == ["form[1].default", "form[3].default"]


def test_duplicate_ids_keep_the_first_file_and_a_sites_file_replaces_a_builtin(tmp_path):
    first = write(tmp_path, "a.yaml", VIEWER)
    second = write(tmp_path, "b.yaml", dict(VIEWER, name="Second"))
    site_lab = write(tmp_path, "c.yaml", dict(VIEWER, id="jupyterlab", name="Our lab"))
    again = write(tmp_path, "d.yaml", dict(VIEWER, id="jupyterlab", name="Lab again"))
    catalog = load_catalog(tmp_path, PROFILES)
    assert catalog.apps["viewer"].name == "Viewer"
    assert (catalog.apps["jupyterlab"].name, catalog.apps["jupyterlab"].path) == ("Our lab", str(site_lab))
    assert [(b.path, b.problems) for b in catalog.broken] == [
        (str(second), (f"id: duplicate app id 'viewer' (first in {first})",)),
        (str(again), (f"id: duplicate app id 'jupyterlab' (first in {site_lab})",))]


def test_a_missing_directory_is_reported_and_the_builtins_still_load(tmp_path):
    catalog = load_catalog(tmp_path / "nowhere", PROFILES)
    assert list(catalog.apps) == BUILTIN_IDS
    assert [(b.path, b.problems) for b in catalog.broken] == [
        (str(tmp_path / "nowhere"), ("cannot read the apps directory: No such file or directory",))]


def test_a_large_file_is_refused_unread(tmp_path):
    path = write(tmp_path, "big.yaml", "# padding\n" * 7000)
    assert load_catalog(tmp_path, PROFILES).broken[0].problems == (f"file is {path.stat().st_size} bytes, more "
                                                                   "than 65536",)


def test_svg_icons_beside_the_file_load_and_links_out_of_its_folder_do_not(tmp_path):
    folder = tmp_path / "apps"
    write(folder / "icons", "viewer.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>")
    write(folder, "viewer.yaml", dict(VIEWER, icon="icons/viewer.svg"))
    (tmp_path / "outside.svg").write_text("<svg/>")
    (folder / "icons" / "out.svg").symlink_to(tmp_path / "outside.svg")
    write(folder, "out.yaml", dict(VIEWER, id="out", icon="icons/out.svg"))
    catalog = load_catalog(folder, PROFILES)
    assert catalog.apps["viewer"].icon == "icons/viewer.svg"
    assert catalog.broken[0].problems == ("icon: 'icons/out.svg' leads out of the app file's folder",)


def test_profiles_are_not_checked_without_a_portal_yaml(tmp_path):
    write(tmp_path, "viewer.yaml", dict(VIEWER, run={"profile": "anything"}, form=VIEWER["form"][2:]))
    assert load_catalog(tmp_path, None).broken == ()
    assert load_catalog(tmp_path, PROFILES).broken[0].problems == (
        "run.profile: profile 'anything' is not defined under profiles in portal.yaml",)


def test_apps_directory_is_relative_to_portal_yaml(tmp_path):
    write(tmp_path / "apps", "viewer.yaml", VIEWER)
    (tmp_path / "portal.yaml").write_text(yaml.safe_dump({**TEST_CONFIG, "apps": {"directory": "apps"}}))
    assert list(catalog_for(portal_config.load(tmp_path / "portal.yaml")).apps) == [*BUILTIN_IDS, "viewer"]
    assert portal_config.validate({}).raw["apps"] == {"directory": None}


def test_the_test_portals_apps_are_one_for_team_a_and_one_broken_file():
    """tests/portal/apps, which the session portal and the authz matrix load."""
    catalog = catalog_for(portal_config.validate(TEST_CONFIG))
    assert list(catalog.apps) == [*BUILTIN_IDS, "team-a-tool"]
    assert [(Path(b.path).name, b.problems) for b in catalog.broken] == [
        ("broken-bounds.yaml", ("walltime.default_hours: 10 is above max_hours (4)",))]


# --- aiportal apps check ---------------------------------------------------------------------


def apps_check(*args):
    return subprocess.run([sys.executable, "-m", "portal.cli", "apps", "check", *map(str, args)],
                          capture_output=True, text=True, timeout=60)


def test_apps_check_prints_each_app_ok_or_its_problems(tmp_path):
    good = write(tmp_path, "viewer.yaml", VIEWER)
    r = apps_check(tmp_path, "--data-dir", tmp_path)
    assert (r.returncode, r.stdout) == (0, "".join(f"ok  {i}  {BUILTIN / f'{i}.yaml'}\n" for i in BUILTIN_IDS)
                                        + f"ok  viewer  {good}\n")
    assert "profiles not checked" in r.stderr
    bad = write(tmp_path, "bad.yaml", dict(VIEWER, id="bad", url="/../x"))
    r = apps_check(tmp_path, "--data-dir", tmp_path)
    assert r.returncode == 1 and "ok  viewer" in r.stdout
    assert f"{bad}: 1 problem(s)\n  url: '/../x' is not a path inside the server" in r.stderr


def test_apps_check_reads_profiles_and_the_directory_from_portal_yaml(tmp_path):
    write(tmp_path / "apps", "viewer.yaml", dict(VIEWER, run={"profile": "gpu"}, form=VIEWER["form"][2:]))
    config = tmp_path / "portal.yaml"
    config.write_text(yaml.safe_dump({"profiles": {"cpu": {"image": "x"}}, "apps": {"directory": "apps"}}))
    r = apps_check("--config", config)
    assert r.returncode == 1
    assert "run.profile: profile 'gpu' is not defined under profiles in portal.yaml" in r.stderr
    assert "profiles not checked" not in r.stderr


# --- who may use an app --------------------------------------------------------------------


def test_who_may_use_an_app(tmp_path, jupyterlab):
    image = viewer(tmp_path)
    assert [image.usable_by(t, ["cpu"], PROFILES) for t in ("team-a", "team-b")] == [True, False]
    assert jupyterlab.offered_profiles(["prod", "gpu", "undeclared", "cpu"], PROFILES) == ["gpu", "cpu"]
    assert not jupyterlab.usable_by("team-c", ["prod", "undeclared"], PROFILES)  # no dev profile it could run in
    fixed = viewer(tmp_path, lambda d: d.update(run={"profile": "gpu"}, form=d["form"][2:], teams="all"))
    assert [fixed.usable_by("team-x", allowed, PROFILES) for allowed in (["gpu"], ["cpu"])] == [True, False]


# --- launch validation -----------------------------------------------------------------------


def test_a_launch_with_no_values_takes_every_default_and_the_only_team(tmp_path):
    assert validate_launch(viewer(tmp_path), {}, TEAMS, PROFILES) == Launch(
        app="viewer", team="team-a", profile=None, image="localhost/viewer:1", cpu=2, memory=4 * GIB, gpus=0,
        hours=2, url="/desktop/", idle_timeout=0,
        values={"hours": 2, "gpus": 0, "zoom": 0.5, "layout": "single", "slide": "first", "note": ""})


def test_a_launch_with_every_value_given(tmp_path):
    values = {"team": "team-a", "hours": 8, "gpus": 2, "zoom": 0.3, "layout": "grid", "slide": "s-12",
              "note": "<b>bold</b> & \"quoted\""}
    launch = validate_launch(viewer(tmp_path), values, TEAMS, PROFILES)
    assert (launch.hours, launch.gpus) == (8, 2)
    assert launch.values == {k: v for k, v in values.items() if k != "team"}  # HTML is data; pages escape it


def test_jupyterlab_runs_in_the_teams_dev_profiles(jupyterlab):
    launch = validate_launch(jupyterlab, {"team": "team-a"}, TEAMS, PROFILES)
    assert (launch.profile, launch.image, launch.cpu, launch.memory, launch.gpus, launch.hours, launch.url) == (
        "cpu", None, 1, GIB, 0, 8, "/lab")
    gpu = validate_launch(jupyterlab, {"team": "team-a", "profile": "gpu", "hours": 72}, TEAMS, PROFILES)
    assert (gpu.profile, gpu.cpu, gpu.memory, gpu.gpus, gpu.hours) == ("gpu", 2, 4 * GIB, 1, 72)
    assert validate_launch(jupyterlab, {"team": "team-b"}, TEAMS, PROFILES).profile == "cpu"


HOSTILE = [
    ({"hours": 9}, "hours: 9 is above the app's maximum walltime of 8 hours"),
    ({"hours": 0}, "hours: 0 is below the minimum of 1"),
    ({"hours": -(10**400)}, "hours: a huge number is below the minimum of 1"),
    ({"hours": 10**400}, "hours: a huge number is above the app's maximum walltime"),
    ({"hours": 1e308}, "hours: 1e+308 is above the app's maximum walltime"),
    ({"hours": float("nan")}, "hours: nan is not a whole number"),
    ({"hours": float("inf")}, "hours: inf is not a whole number"),
    ({"hours": 2.5}, "hours: 2.5 is not a whole number"),
    ({"hours": "2"}, "hours: '2' is not a whole number"),
    ({"hours": True}, "hours: a boolean is not a whole number"),
    ({"hours": None}, "hours: null is not a whole number"),
    ({"hours": [2]}, "hours: a list is not a whole number"),
    ({"hours": {"$gt": 1}}, "hours: an object is not a whole number"),
    ({"gpus": 3}, "gpus: 3 is above the maximum of 2"),
    ({"gpus": -1}, "gpus: -1 is below the minimum of 0"),
    ({"zoom": 0.55}, "zoom: 0.55 is not 0.1 plus a whole number of steps of 0.1"),
    ({"zoom": 1.1}, "zoom: 1.1 is above the maximum of 1"),
    ({"zoom": "0.5"}, "zoom: '0.5' is not a number"),
    ({"layout": "<script>alert(1)</script>"}, "layout: '<script>alert(1)</script>' is not one of the choices: "
                                              "'single', 'grid'"),
    ({"layout": "../single"}, "layout: '../single' is not one of the choices"),
    ({"layout": "Grid"}, "layout: 'Grid' is not one of the choices"),  # a label is not a value
    ({"layout": ["single"]}, "layout: a list is not one of the choices"),
    ({"slide": "../../etc/passwd"}, "slide: '../../etc/passwd' does not match the pattern [a-z0-9-]+"),
    ({"slide": "<img src=x>"}, "slide: '<img src=x>' does not match"),
    ({"slide": "a" * 21}, "slide: is longer than 20 characters"),
    ({"note": "x" * 10**6}, "note: is longer than 100 characters"),
    ({"note": "two\nlines"}, "note: contains control characters"),
    ({"note": "nul\x00byte"}, "note: contains control characters"),
    ({"note": 5}, "note: 5 is not text"),
    ({"team": "team-b"}, "team: app 'viewer' is not available to team 'team-b'"),
    ({"team": "team-z"}, "team: 'team-z' is not one of your teams that may use app 'viewer': team-a"),
    ({"team": "<b>team-a</b>"}, "team: '<b>team-a</b>' is not one of your teams"),
    ({"team": ["team-a"]}, "team: a list is not one of your teams"),
    ({"team": 7}, "team: 7 is not one of your teams"),
    ({"../x": 1}, "../x: app 'viewer' has no such field (it asks: gpus, hours, layout, note, slide, team, zoom)"),
    ({"__proto__": 1}, "__proto__: app 'viewer' has no such field"),
    ({"image": "evil/image"}, "image: app 'viewer' has no such field"),
    ({"x" * 1000: 1}, "x" * 64 + ": app 'viewer' has no such field"),
]


@pytest.mark.parametrize("values,message", HOSTILE, ids=[m[:60] for _, m in HOSTILE])
def test_hostile_launch_values_are_refused_naming_the_field(tmp_path, values, message):
    with pytest.raises(LaunchError) as e:
        validate_launch(viewer(tmp_path), values, TEAMS, PROFILES)
    assert str(e.value).startswith(message)
    assert e.value.field == message.split(": ", 1)[0]
    assert len(str(e.value)) < 300  # a huge input is never echoed whole


@pytest.mark.parametrize("values", [[], "hours=2", None, 3])
def test_a_launch_request_that_is_not_an_object_is_refused(tmp_path, values):
    with pytest.raises(LaunchError, match="^form: .* is not an object of field values$"):
        validate_launch(viewer(tmp_path), values, TEAMS, PROFILES)


def test_another_teams_name_is_answered_like_a_team_that_does_not_exist(tmp_path):
    """team-c exists in the deployment but the caller is not in it: nothing says so."""
    messages = []
    for team in ("team-c", "team-y"):
        with pytest.raises(LaunchError) as e:
            validate_launch(viewer(tmp_path), {"team": team}, TEAMS, PROFILES)
        messages.append(str(e.value).replace(team, "TEAM"))
    assert messages[0] == messages[1]


def test_teams_that_may_not_use_the_app(tmp_path, jupyterlab):
    with pytest.raises(LaunchError, match="^team: no team of yours may use app 'viewer'$"):
        validate_launch(viewer(tmp_path), {}, {"team-b": TEAMS["team-b"]}, PROFILES)
    with pytest.raises(LaunchError, match="^team: give one of your teams that may use app 'jupyterlab': team-a, "
                                          "team-b$"):
        validate_launch(jupyterlab, {}, TEAMS, PROFILES)
    with pytest.raises(LaunchError, match="^team: app 'jupyterlab' is not available to team 'team-p'$"):
        validate_launch(jupyterlab, {"team": "team-p"}, {**TEAMS, "team-p": {"profiles": ["prod"]}}, PROFILES)


@pytest.mark.parametrize("profile", ["prod", "undeclared", "tiny", "../cpu", 1, None])
def test_a_profile_the_team_may_not_run_the_app_in_is_refused(jupyterlab, profile):
    with pytest.raises(LaunchError, match="^profile: .* is not a profile team 'team-b' may run app 'jupyterlab' "
                                          r"in \(choose from: cpu\)$"):
        validate_launch(jupyterlab, {"team": "team-b", "profile": profile}, TEAMS, PROFILES)


def test_gpus_above_the_teams_quota_are_refused_naming_the_field_that_chose_them(tmp_path, jupyterlab):
    teams = {"team-a": {**TEAMS["team-a"], "quota": {"gpus": 1}}}
    with pytest.raises(LaunchError, match="^gpus: 2 GPU.s. is more than team 'team-a''s GPU quota of 1$"):
        validate_launch(viewer(tmp_path), {"gpus": 2}, teams, PROFILES)
    teams = {"team-a": {**TEAMS["team-a"], "quota": {"gpus": 0}}}
    with pytest.raises(LaunchError, match="^profile: 1 GPU.s. is more than team 'team-a''s GPU quota of 0$"):
        validate_launch(jupyterlab, {"profile": "gpu"}, teams, PROFILES)


# --- the API's description -------------------------------------------------------------------


def test_the_openapi_document_describes_the_apps_api():
    doc = document("/services/portal/api/v1", PROFILES)
    assert set(doc["paths"]["/apps"]) == {"get"}
    assert set(doc["paths"]["/apps/{app_id}"]["get"]["responses"]) == {"200", "401", "404"}
    assert {"App", "AppField", "AppList", "BrokenApp"} <= set(doc["components"]["schemas"])


def test_the_app_files_in_docs_load_and_show_the_builtin_as_shipped(tmp_path):
    """docs/apps.md's examples (the built-in, OMERO, Diffgram) are valid app files."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "apps.md").read_text()
    blocks = [yaml.safe_load(b.split("```")[0]) for b in text.split("```yaml\n")[1:]]
    apps = [b for b in blocks if isinstance(b, dict) and "id" in b]
    assert [a["id"] for a in apps] == ["jupyterlab", "omero-insight", "diffgram"]
    assert apps[0] == yaml.safe_load((BUILTIN / "jupyterlab.yaml").read_text())
    for app in apps[1:]:
        write(tmp_path, f"{app['id']}.yaml", app)
    catalog = load_catalog(tmp_path, PROFILES)
    assert catalog.broken == () and list(catalog.apps) == [*BUILTIN_IDS, "diffgram", "omero-insight"]


def test_a_file_that_is_not_text_is_reported(tmp_path):
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00id: x")
    [broken] = load_catalog(tmp_path, PROFILES).broken
    assert broken.problems[0].startswith("cannot read file: 'utf-8' codec can't decode")
