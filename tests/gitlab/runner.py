"""The GitLab double's mini runner: plans a pipeline from `.gitlab-ci.yml` and runs its jobs in
Podman containers, as a GitLab runner with the docker executor would.

Only what the promotion template (images/prod/gitlab-ci.yml) needs is understood; anything
else that would change which jobs run or how is refused with ValueError rather than ignored,
so a test never passes on a pipeline GitLab would run differently.

Kaniko's own image (gcr.io/kaniko-project/executor) cannot be pulled here: its jobs run in
`kaniko_image`, a local image, with the executor built by scripts/install-kaniko.sh mounted
at /kaniko/executor (DESIGN.md, machine facts). Scripts always run with `sh` as the
entrypoint, which is what the template's `entrypoint: [""]` asks of GitLab.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

KANIKO_IMAGE = "gcr.io/kaniko-project/executor:"
DEFAULT_STAGES = [".pre", "build", "test", "deploy", ".post"]
# Top-level keys that are not jobs.
GLOBAL_KEYS = {"stages", "variables", "include", "default", "workflow", "image", "services", "cache",
               "before_script", "after_script"}
JOB_KEYS = {"stage", "image", "script", "before_script", "variables", "rules", "only"}
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
RULE_IF = re.compile(r"^\s*\$(\w+)\s*(?:=~\s*/(.*)/\s*)?$")


@dataclass
class JobPlan:
    name: str
    stage: str
    image: str
    script: list[str]
    variables: dict[str, str]


def expand(text: str, variables: dict[str, str]) -> str:
    """$VAR and ${VAR} replaced as GitLab does in image names (unknown ones by nothing)."""
    return VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), text)


def load(text: str, where: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{where}: invalid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: the top level must be a mapping")
    return data


def with_includes(data: dict, read_file: Callable[[str], str | None]) -> dict:
    """`include: - local: path` merged under the file itself, as GitLab merges them."""
    includes = data.pop("include", [])
    includes = includes if isinstance(includes, list) else [includes]
    merged: dict = {}
    for item in includes:
        path = item if isinstance(item, str) else item.get("local") if isinstance(item, dict) else None
        if not isinstance(path, str) or (isinstance(item, dict) and set(item) != {"local"}):
            raise ValueError(f"include: only local files are supported, not {item!r}")
        text = read_file(path.lstrip("/"))
        if text is None:
            raise ValueError(f"include: local file {path!r} does not exist")
        included = load(text, path)
        if "include" in included:
            raise ValueError(f"{path}: nested includes are not supported")
        merge(merged, included)
    return merge(merged, data)


def merge(base: dict, over: dict) -> dict:
    """Deep merge of mappings, `over` winning (GitLab's include semantics)."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def string_map(value, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or any(isinstance(v, (dict, list)) for v in value.values()):
        raise ValueError(f"{where}: variables must map names to strings")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def lines(value, where: str) -> list[str]:
    """A script: a string or a list of strings, nested lists flattened (YAML anchors)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [line for item in value for line in lines(item, where)]
    raise ValueError(f"{where}: must be a string or a list of strings")


def rule_matches(expression: str, variables: dict[str, str]) -> bool:
    match = RULE_IF.match(expression)
    if not match:
        raise ValueError(f"rules: unsupported if expression {expression!r} (only $VAR and $VAR =~ /re/)")
    value = variables.get(match.group(1), "")
    return bool(re.search(match.group(2), value)) if match.group(2) is not None else bool(value)


def included(name: str, job: dict, tag: bool, variables: dict[str, str]) -> bool:
    """Whether `rules` or `only` let the job into this pipeline (no rules: always)."""
    if "rules" in job and "only" in job:
        raise ValueError(f"{name}: rules and only cannot be used together")
    if "only" in job:
        refs = job["only"] if isinstance(job["only"], list) else [job["only"]]
        if not set(refs) <= {"tags", "branches"}:
            raise ValueError(f"{name}: only: supports tags and branches, not {refs!r}")
        return ("tags" if tag else "branches") in refs
    rules = job.get("rules")
    if rules is None:
        return True
    if not isinstance(rules, list):
        raise ValueError(f"{name}: rules must be a list")
    for rule in rules:
        if not isinstance(rule, dict) or not set(rule) <= {"if", "when"}:
            raise ValueError(f"{name}: unsupported rule {rule!r} (only if and when)")
        if rule.get("when", "on_success") not in ("on_success", "always", "never"):
            raise ValueError(f"{name}: unsupported when: {rule['when']!r}")
        if "if" not in rule or rule_matches(rule["if"], variables):
            return rule.get("when") != "never"
    return False


def plan(ci_yaml: str, read_file: Callable[[str], str | None], ref: str, tag: bool,
         variables: dict[str, str]) -> list[JobPlan]:
    """The jobs a pipeline for `ref` runs, in stage order; ValueError says why the file is invalid.

    `variables` are the predefined and project variables (they decide rules and expand image
    names); each JobPlan's `variables` are those the YAML sets, global then job-level.
    """
    data = with_includes(load(ci_yaml, ".gitlab-ci.yml"), read_file)
    for key in ("default", "workflow", "image", "services", "before_script", "after_script"):
        if key in data:
            raise ValueError(f"top-level {key}: is not supported by the test runner")
    stages = data.get("stages", DEFAULT_STAGES)
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
        raise ValueError("stages: must be a list of names")
    global_vars = string_map(data.get("variables"), "variables")
    predefined = {"CI_COMMIT_REF_NAME": ref, **({"CI_COMMIT_TAG": ref} if tag else {})}
    jobs = []
    for name, job in data.items():
        if name in GLOBAL_KEYS or name.startswith("."):
            continue
        if not isinstance(job, dict) or "script" not in job:
            raise ValueError(f"{name}: a job needs a script")
        if set(job) - JOB_KEYS:
            raise ValueError(f"{name}: unsupported keys {sorted(set(job) - JOB_KEYS)}")
        stage = job.get("stage", "test")
        if stage not in stages:
            raise ValueError(f"{name}: stage {stage!r} is not one of stages {stages}")
        job_vars = {**global_vars, **string_map(job.get("variables"), f"{name}: variables")}
        scope = {**predefined, **job_vars, **variables}
        if not included(name, job, tag, scope):
            continue
        image = job.get("image")
        image = image.get("name") if isinstance(image, dict) else image
        if not isinstance(image, str) or not image:
            raise ValueError(f"{name}: an image is needed (the runner has no default image)")
        script = lines(job.get("before_script", []), f"{name}: before_script") + lines(job["script"], f"{name}: script")
        jobs.append(JobPlan(name, stage, expand(image, scope), script, job_vars))
    return sorted(jobs, key=lambda j: stages.index(j.stage))


def registry_of(image: str) -> str:
    """The registry host of an image reference ('docker.io' when it names none)."""
    first, sep, _ = image.partition("/")
    return first if sep and ("." in first or ":" in first or first == "localhost") else "docker.io"


class Runner:
    """Runs one job at a time in a fresh Podman container; output goes to `on_output` line by
    line (each with its newline) as it comes, and the job's exit code is returned."""

    def __init__(self, kaniko_executor: Path, kaniko_image: str = "localhost/aiportal-base:bookworm",
                 insecure_registries: tuple[str, ...] = ()):
        self.kaniko_executor = Path(kaniko_executor)
        self.kaniko_image = kaniko_image
        self.insecure_registries = insecure_registries

    def run_job(self, job: JobPlan, workspace: Path, variables: dict[str, str],
                on_output: Callable[[str], None]) -> int:
        env = {**job.variables, **variables}  # project and predefined variables win over YAML, as in GitLab
        project_dir = env.setdefault("CI_PROJECT_DIR", "/builds/project")
        image, mounts = job.image, []
        if image.startswith(KANIKO_IMAGE):
            image, mounts = self.kaniko_image, ["-v", f"{self.kaniko_executor}:/kaniko/executor:ro"]
        elif registry_of(image) in self.insecure_registries:
            on_output(f"Pulling docker image {image} ...\n")
            code = self.stream(["podman", "pull", "--tls-verify=false", image], on_output)
            if code:
                return code
        if env.get("GIT_STRATEGY") != "none":
            mounts += ["-v", f"{workspace}:{project_dir}", "-w", project_dir]
        on_output(f"Using docker image {job.image}\n")
        # `$ command` before each one, as GitLab's traces show them.
        script = "\n".join(f"printf '%s\\n' {shlex.quote('$ ' + line)}\n{line}" for line in job.script)
        name = f"aiportal-ci-{uuid.uuid4().hex[:12]}"
        command = ["podman", "run", "--rm", "--name", name, "--network", "host", *mounts,
                   *[f"--env={k}={v}" for k, v in env.items()], "--entrypoint", "sh", image, "-c", f"set -e\n{script}"]
        try:
            return self.stream(command, on_output)
        finally:
            # a test timeout or crash must not leave the job running (a no-op once --rm did it)
            subprocess.run(["podman", "rm", "-f", "-t", "0", "--ignore", name], capture_output=True)

    @staticmethod
    def stream(command: list[str], on_output: Callable[[str], None]) -> int:
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              text=True, errors="replace") as proc:
            for line in proc.stdout:
                on_output(line)
            return proc.wait()
