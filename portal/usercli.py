"""The `aiportal` commands of developers: the portal from a terminal, like an HPC frontend.

    aiportal login URL [--user NAME] [--token TOKEN]
    aiportal logout
    aiportal teams
    aiportal dev start|stop|status [--team T] [--profile P]
    aiportal dev shell [--team T] [--profile P] [--ssh-port N] [-o SSH_OPTION] [COMMAND ...]
    aiportal data ls TEAM[:PREFIX]
    aiportal data cp SRC DST            (one of them TEAM:KEY, the other a local path)
    aiportal data rm [-r] TEAM:KEY ...
    aiportal data share [--expires 1d] TEAM:KEY
    aiportal jobs submit FILE.yaml [--team T] [--wait]
    aiportal jobs list [--team T] [--state S]
    aiportal jobs status|logs [-f]|wait|cancel ID [--team T]

Tables for people; `--json` (after the command) for scripts. A failure is one
line on stderr, `aiportal: <command>: <the API's message>`. Exit codes: 0 done, 1 refused
or failed (also `jobs status`/`jobs wait` of a job that did not succeed), 2 usage,
3 not logged in or the token is refused, 4 the portal cannot be reached; `dev shell` exits
with ssh's status (the remote command's, 255 when ssh failed).

The login lives in aiportal/config.py's file; the calls go through the Python API
(aiportal/client.py, aiportal/jobs.py).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse

OK, FAILED, USAGE, UNAUTHORIZED, UNREACHABLE = 0, 1, 2, 3, 4
DEFAULT_SSH_PORT = 2222
LOGIN_EXPIRES_IN = 30 * 86400  # seconds: what `aiportal login` asks the hub for with a password


class Failure(Exception):
    """A command's failure: its one line and its exit code."""

    def __init__(self, message: str, code: int = FAILED):
        super().__init__(message)
        self.code = code


# --- plumbing ---------------------------------------------------------------------------------

def connect(args):
    """The Portal of the stored login (Failure 3 when there is none)."""
    from aiportal import config
    from aiportal.client import Portal

    cfg = config.load()
    if not cfg.get("url") or not cfg.get("token"):
        raise Failure("not logged in: run `aiportal login URL` (or set AIPORTAL_URL and AIPORTAL_TOKEN)",
                      UNAUTHORIZED)
    portal = Portal(cfg["url"], cfg["token"], timeout=args.timeout)
    portal._user = cfg.get("user")
    return portal


def exit_code(e) -> int:
    from aiportal.client import PortalUnreachable

    if isinstance(e, PortalUnreachable):
        return UNREACHABLE
    if e.status == 401:
        return UNAUTHORIZED
    return FAILED


def emit(args, data, table=None) -> None:
    """`data` as JSON with --json, else the table (a list of rows, the first the header) or text."""
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    elif isinstance(table, str):
        print(table)
    elif table is not None:
        print_table(table)


def print_table(rows: list[list]) -> None:
    rows = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def size_text(n) -> str:
    if n is None:
        return ""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def when(text) -> str:
    """An API timestamp as `2026-11-30 09:10:24` (UTC), or ''."""
    return str(text).replace("T", " ")[:19] if text else ""


class ProgressBar:
    """A transfer's progress on stderr, redrawn in place; nothing when stderr is no terminal
    (tqdm draws it where it is installed)."""

    def __init__(self, label: str):
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.start = time.monotonic()
        self.bar = None
        self.last = 0.0
        try:
            if self.enabled:
                from tqdm import tqdm
                self.bar = tqdm(desc=label, unit="B", unit_scale=True, unit_divisor=1024, leave=True)
        except ImportError:
            pass

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.total = total
            self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-6)
        share = done / total if total else 1.0
        filled = int(share * 30)
        sys.stderr.write(f"\r{self.label[-30:]}  [{'#' * filled}{'.' * (30 - filled)}] {share:4.0%}  "
                         f"{size_text(done)} of {size_text(total)}  {size_text(rate)}/s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.last:
            sys.stderr.write("\n")


def remote(spec: str):
    """`TEAM:KEY` → (team, key); None for a local path (`./a:b`, `/x`, or no team before `:`)."""
    from .names import is_team_name

    if spec.startswith((".", "/", "~")) or ":" not in spec:
        return None
    team, _, key = spec.partition(":")
    return (team, key) if is_team_name(team) else None


# --- login ------------------------------------------------------------------------------------

def cmd_login(args, _=None) -> int:
    from aiportal import config
    from aiportal.client import Portal, PortalError

    url = args.url.rstrip("/") + "/"
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise Failure(f"{args.url!r} is not a portal URL: http(s)://HOST[:PORT]/", USAGE)
    token = args.token
    if token is None:
        user = args.user or input("Username: ").strip()
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"Password for {user}: ")
        anonymous = Portal(url, "", timeout=args.timeout)
        anonymous.session.headers.pop("Authorization")
        body = {"auth": {"username": user, "password": password}, "note": "aiportal CLI",
                "expires_in": LOGIN_EXPIRES_IN}
        try:
            answer = anonymous.hub("POST", f"users/{urllib.parse.quote(user, safe='')}/tokens", json=body)
        except PortalError as e:
            if e.status == 403:
                raise Failure("the hub refused the user name or password (or the account is not approved); "
                              "or paste a token from the hub's Token page: aiportal login URL --token TOKEN",
                              UNAUTHORIZED) from None
            raise
        token = answer["token"]
    portal = Portal(url, token, timeout=args.timeout)
    try:
        user = portal.user
    except PortalError as e:
        if e.status in (401, 403):
            raise Failure(f"the hub at {url} refused this token", UNAUTHORIZED) from None
        raise
    if args.user and args.user != user:
        raise Failure(f"this token is {user!r}'s, not {args.user!r}'s", UNAUTHORIZED)
    path = config.save(url, user, token)
    emit(args, {"url": url, "user": user, "config": str(path)}, f"logged in to {url} as {user} ({path})")
    return OK


def cmd_logout(args, _=None) -> int:
    from aiportal import config

    removed = config.remove()
    emit(args, {"removed": removed}, f"logged out ({config.config_path()} removed)" if removed else "not logged in")
    return OK


# --- teams ------------------------------------------------------------------------------------

def cmd_teams(args, portal) -> int:
    teams = portal.teams()
    rows = [["TEAM", "NAME", "ROLE", "PROFILES", "GPUS", "STORAGE"]]
    for t in teams:
        quota = t.get("quota") or {}
        role = "admin" if portal.user in (t.get("admins") or []) else "member"
        rows.append([t["name"], t.get("display_name", ""), role, ",".join(t.get("profiles") or []),
                     quota.get("gpus", ""), size_text(quota["storage"]) if quota.get("storage") else ""])
    emit(args, teams, rows if teams else "you are in no team")
    return OK


# --- dev server -------------------------------------------------------------------------------

def status_text(s: dict) -> str:
    if s["state"] == "stopped":
        return "stopped"
    where = f" in {s['team']} with profile {s['profile']}" if s.get("team") else ""
    return f"{s['state']}{where}" + (f": {s['url']}" if s["state"] == "running" and s.get("url") else "")


def show_progress(args):
    def show(event: dict) -> None:
        if not args.json and event.get("message"):
            pct = event.get("progress")
            print(f"[{pct:>3}%] {event['message']}" if isinstance(pct, int) else event["message"], file=sys.stderr)
    return show


def cmd_dev_start(args, portal) -> int:
    status = portal.dev.start(args.team, args.profile, wait=not args.no_wait, progress=show_progress(args))
    emit(args, status, status_text(status))
    return OK


def cmd_dev_stop(args, portal) -> int:
    status = portal.dev.stop()
    emit(args, status, status_text(status))
    return OK


def cmd_dev_status(args, portal) -> int:
    status = portal.dev.status()
    emit(args, status, status_text(status))
    return OK


ASKPASS = """#!/bin/sh
# aiportal dev shell: answers ssh's password prompt with the token from the environment;
# any other question (a new host key) is asked on the terminal.
case "$1" in
  *assword*) printf '%s\\n' "$AIPORTAL_SSH_TOKEN" ;;
  *) printf '%s' "$1" >/dev/tty; read -r answer </dev/tty; printf '%s\\n' "$answer" ;;
esac
"""


def ssh_endpoint(portal, port: int | None) -> tuple[str, int]:
    """The host and port of the portal's SSH endpoint: --ssh-port, else what the portal
    says (`ssh` of GET ssh-keys), else the portal's host and 2222."""
    from aiportal.client import PortalError

    host = urllib.parse.urlparse(portal.url).hostname
    info = {}
    try:
        answer = portal.api("GET", "ssh-keys")
        info = answer.get("ssh") or {} if isinstance(answer, dict) else {}
    except PortalError as e:
        if e.status is None:
            raise
    return info.get("host") or host, port or info.get("port") or DEFAULT_SSH_PORT


def cmd_dev_shell(args, portal) -> int:
    if not shutil.which("ssh"):
        raise Failure("no ssh command on this machine (install the OpenSSH client)")
    if args.team or args.profile:
        status = portal.dev.start(args.team, args.profile, progress=show_progress(args))
        print(status_text(status), file=sys.stderr)
    host, port = ssh_endpoint(portal, args.ssh_port)
    workdir = tempfile.mkdtemp(prefix="aiportal-ssh-")  # 0700
    try:
        askpass = os.path.join(workdir, "askpass")
        fd = os.open(askpass, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w") as f:
            f.write(ASKPASS)
        os.chmod(askpass, stat.S_IRWXU)
        env = dict(os.environ, SSH_ASKPASS=askpass, SSH_ASKPASS_REQUIRE="force",
                   AIPORTAL_SSH_TOKEN=portal.session.headers["Authorization"].removeprefix("token "))
        env.setdefault("DISPLAY", ":0")  # ssh before 8.4 asks askpass only with a DISPLAY
        command = ["ssh", "-p", str(port)]
        for option in args.option or []:
            command += ["-o", option]
        remote_command = args.command[1:] if args.command[:1] == ["--"] else args.command
        command += [f"{portal.user}@{host}", *remote_command]
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is ssh's, not ours
        try:
            return subprocess.call(command, env=env)
        finally:
            signal.signal(signal.SIGINT, previous)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- data -------------------------------------------------------------------------------------

def need_remote(spec: str, what: str = "TEAM:KEY"):
    where = remote(spec)
    if where is None:
        raise Failure(f"{spec!r} is not {what} (e.g. team-a:slides/scan.svs)", USAGE)
    return where


def cmd_data_ls(args, portal) -> int:
    team, _, prefix = args.path.partition(":")
    from .names import is_team_name

    if not is_team_name(team):
        raise Failure(f"{args.path!r} is not TEAM[:FOLDER/] (e.g. team-a:slides/)", USAGE)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    items = portal.data.ls(team, prefix)
    rows = [["SIZE", "MODIFIED", "KEY"]]
    for item in items:
        rows.append(["" if item.get("is_prefix") else size_text(item.get("size")),
                     when(item.get("last_modified")), item["key"]])
    emit(args, items, rows if items else f"{team}:{prefix} is empty")
    return OK


def cmd_data_cp(args, portal) -> int:
    src, dst = remote(args.src), remote(args.dst)
    if (src is None) == (dst is None):
        raise Failure("give one TEAM:KEY and one local path (e.g. ./scan.svs team-a:slides/)", USAGE)
    if dst is not None:  # upload
        team, key = dst
        local = os.path.expanduser(args.src)
        if not os.path.isfile(local):
            raise Failure(f"{args.src}: no such file", USAGE)
        if not key or key.endswith("/"):
            key += os.path.basename(local)
        bar = ProgressBar(os.path.basename(local))
        try:
            result = portal.data.upload(team, local, key, progress=bar)
        finally:
            bar.close()
        emit(args, result, f"{args.src} → {team}:{result['key']} ({size_text(result['size'])})")
    else:
        team, key = src
        if not key or key.endswith("/"):
            raise Failure(f"{args.src}: give an object's key, not a folder", USAGE)
        bar = ProgressBar(key.rsplit("/", 1)[-1])
        try:
            path = portal.data.download(team, key, os.path.expanduser(args.dst), progress=bar)
        finally:
            bar.close()
        size = path.stat().st_size
        emit(args, {"path": str(path), "size": size}, f"{team}:{key} → {path} ({size_text(size)})")
    return OK


def cmd_data_rm(args, portal) -> int:
    results = []
    for spec in args.paths:
        team, key = need_remote(spec)
        for result in portal.data.rm(team, key, recursive=args.recursive):
            results.append(result)
            if not args.json:
                print(f"removed {team}:{result['key']} ({result.get('objects', 1)} object(s), "
                      f"{size_text(result.get('bytes'))})")
    emit(args, results)
    return OK


def cmd_data_share(args, portal) -> int:
    team, key = need_remote(args.path)
    from aiportal.client import seconds

    try:
        expires = seconds(args.expires)
    except ValueError as e:
        raise Failure(f"--expires: {e}", USAGE) from None
    share = portal.data.share(team, key, expires)
    emit(args, share, share["url"])
    return OK


# --- jobs -------------------------------------------------------------------------------------

JOB_COLUMNS = ["ID", "TEAM", "NAME", "STATE", "USER", "IMAGE", "CREATED"]


def job_row(job) -> list:
    d = job.data
    what = d.get("version") or (f"dev:{d['profile']}" if d.get("profile") else "")
    state = d.get("state", "")
    if d.get("exit_code") not in (None, 0):
        state += f" ({d['exit_code']})"
    return [d.get("id"), d.get("team"), d.get("name") or "", state, d.get("user"), what, when(d.get("created_at"))]


def job_text(job) -> str:
    d = dict(job.data)
    if d.get("outputs_url"):  # the portal's page of the outputs, as a full address
        d["outputs_url"] = urllib.parse.urljoin(job._jobs._portal.url, d["outputs_url"])
    lines = [f"job {d.get('id')} of {d.get('team')}: {d.get('state')}"
             + (f" ({d['reason']})" if d.get("reason") else "")]
    for label, key in (("name", "name"), ("version", "version"), ("profile", "profile"), ("image", "image"),
                       ("user", "user"), ("exit code", "exit_code"), ("message", "message"),
                       ("created", "created_at"), ("started", "started_at"), ("finished", "finished_at"),
                       ("outputs", "outputs"), ("outputs url", "outputs_url")):
        if d.get(key) not in (None, ""):
            lines.append(f"  {label + ':':<12} {when(d[key]) if key.endswith('_at') else d[key]}")
    return "\n".join(lines)


def find_job(args, portal):
    """The job `args.id` of --team, else of whichever of the user's teams has it."""
    from aiportal.client import PortalError

    if args.team:
        return portal.jobs.get(args.team, args.id)
    for team in portal.teams():
        try:
            return portal.jobs.get(team["name"], args.id)
        except PortalError as e:
            if e.status != 404:
                raise
    raise Failure(f"no job {args.id} in your teams")


def cmd_jobs_submit(args, portal) -> int:
    import yaml

    try:
        with open(args.file) as f:
            spec = yaml.safe_load(f)
    except OSError as e:
        raise Failure(f"{args.file}: {e.strerror}", USAGE) from None
    except yaml.YAMLError as e:
        raise Failure(f"{args.file}: not YAML: {str(e).splitlines()[0]}", USAGE) from None
    if not isinstance(spec, dict):
        raise Failure(f"{args.file}: a job description is a mapping (team, command, version, …)", USAGE)
    if args.team:
        spec["team"] = args.team
    job = portal.jobs.submit(spec)
    if args.wait:
        return wait_for(args, job)
    emit(args, job.data, f"job {job.id} submitted to {job.team}: {job.state}")
    return OK


def cmd_jobs_list(args, portal) -> int:
    teams = [args.team] if args.team else [t["name"] for t in portal.teams()]
    jobs = [job for team in teams for job in portal.jobs.list(team, state=args.state, limit=args.limit)]
    jobs.sort(key=lambda j: j.data.get("created_at") or "", reverse=True)
    emit(args, [j.data for j in jobs], [JOB_COLUMNS, *map(job_row, jobs)] if jobs else "no jobs")
    return OK


def cmd_jobs_status(args, portal) -> int:
    job = find_job(args, portal)
    emit(args, job.data, job_text(job))
    return FAILED if job.finished and not job.succeeded else OK


def wait_for(args, job) -> int:
    if not args.json:
        print(f"job {job.id} of {job.team}: {job.state}; waiting", file=sys.stderr)
    job.wait(timeout=getattr(args, "wait_timeout", None))
    emit(args, job.data, job_text(job))
    return OK if job.succeeded else FAILED


def cmd_jobs_wait(args, portal) -> int:
    return wait_for(args, find_job(args, portal))


def cmd_jobs_logs(args, portal) -> int:
    job = find_job(args, portal)
    if not args.follow:
        sys.stdout.write(job.logs())
        return OK
    for line in job.logs(follow=True):
        print(line, flush=True)
    return OK


def cmd_jobs_cancel(args, portal) -> int:
    job = find_job(args, portal).cancel()
    emit(args, job.data, f"job {job.id} of {job.team}: cancel requested ({job.state})")
    return OK


# --- the parser -------------------------------------------------------------------------------

def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="answer in JSON, for scripts")
    return p


def register(sub) -> None:
    """Add the developers' commands to `aiportal`'s sub-command parser (portal/cli.py)."""
    def command(parent, name, func, help, needs_portal=True):
        p = common(parent.add_parser(name, help=help))
        p.set_defaults(func=run, user_func=func, needs_portal=needs_portal)
        return p

    login = command(sub, "login", cmd_login, "log in to a portal: keeps its URL and a token in "
                    "~/.config/aiportal/config.json", needs_portal=False)
    login.add_argument("url", help="the portal's address, e.g. https://portal.example.org/")
    login.add_argument("--user", help="your user name (asked if not given)")
    login.add_argument("--token", help="a token from the hub's Token page (else the password is asked)")
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    command(sub, "logout", cmd_logout, "forget the stored login", needs_portal=False)
    command(sub, "teams", cmd_teams, "your teams")

    dev = sub.add_parser("dev", help="your dev server: start, stop, status, shell")
    dev_sub = dev.add_subparsers(dest="dev_command", required=True)
    for name, func, help in (("start", cmd_dev_start, "start your dev server and follow its start"),
                             ("stop", cmd_dev_stop, "stop your dev server"),
                             ("status", cmd_dev_status, "whether your dev server runs, where, with what"),
                             ("shell", cmd_dev_shell, "a shell in your dev server through the portal's SSH")):
        p = command(dev_sub, name, func, help)
        if name in ("start", "shell"):
            p.add_argument("--team", help="the team to start it in (if you have several)")
            p.add_argument("--profile", help="the team's profile to start it with")
        if name == "start":
            p.add_argument("--no-wait", action="store_true", help="return once the start is requested")
        if name == "shell":
            p.add_argument("--ssh-port", type=int, help=f"the portal's SSH port (default: what the portal says, "
                                                        f"else {DEFAULT_SSH_PORT})")
            p.add_argument("-o", dest="option", action="append", metavar="OPTION", help="an ssh option")
            p.add_argument("command", nargs=argparse.REMAINDER, help="a command to run instead of a shell")

    data = sub.add_parser("data", help="your teams' datasets: ls, cp, rm, share")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    ls = command(data_sub, "ls", cmd_data_ls, "list a folder: TEAM or TEAM:FOLDER/")
    ls.add_argument("path", metavar="TEAM[:FOLDER/]")
    cp = command(data_sub, "cp", cmd_data_cp, "copy a file up (./f TEAM:KEY) or down (TEAM:KEY ./)")
    cp.add_argument("src")
    cp.add_argument("dst")
    rm = command(data_sub, "rm", cmd_data_rm, "delete objects, or folders (TEAM:FOLDER/, with -r their content)")
    rm.add_argument("paths", nargs="+", metavar="TEAM:KEY")
    rm.add_argument("-r", "--recursive", action="store_true", help="a folder with everything in it")
    share = command(data_sub, "share", cmd_data_share, "print a link to an object that works without login")
    share.add_argument("path", metavar="TEAM:KEY")
    share.add_argument("--expires", default="1d", help="how long the link works: seconds or 30m, 12h, 7d "
                                                       "(default: %(default)s; at most 7d)")

    jobs = sub.add_parser("jobs", help="batch jobs: submit, list, status, logs, wait, cancel")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    submit = command(jobs_sub, "submit", cmd_jobs_submit, "submit a job described in a YAML file")
    submit.add_argument("file", metavar="FILE.yaml")
    submit.add_argument("--team", help="the team (instead of the file's)")
    submit.add_argument("--wait", action="store_true", help="wait until it finished (exit 1 unless it succeeded)")
    listing = command(jobs_sub, "list", cmd_jobs_list, "jobs of a team (default: of all your teams), newest first")
    listing.add_argument("--team")
    listing.add_argument("--state", help="only jobs in this state")
    listing.add_argument("--limit", type=int, default=50, help="at most this many per team (default: %(default)s)")
    for name, func, help in (("status", cmd_jobs_status, "where a job stands (exit 1 if it failed)"),
                             ("logs", cmd_jobs_logs, "a job's output"),
                             ("wait", cmd_jobs_wait, "wait until a job finished (exit 1 unless it succeeded)"),
                             ("cancel", cmd_jobs_cancel, "cancel a job")):
        p = command(jobs_sub, name, func, help)
        p.add_argument("id", metavar="ID")
        p.add_argument("--team", help="the job's team (default: looked up in your teams)")
        if name == "logs":
            p.add_argument("-f", "--follow", action="store_true", help="follow until the job finished")
        if name == "wait":
            p.add_argument("--timeout", dest="wait_timeout", type=float, help="give up after this many seconds")


def command_name(args) -> str:
    words = [args.command] + [getattr(args, f"{args.command}_command", None) or ""]
    return " ".join(w for w in words if w)


def run(args) -> int:
    """Run a developer's command: its failures as one line on stderr and an exit code."""
    from aiportal.client import PortalError

    args.json = getattr(args, "json", False)
    args.timeout = float(os.environ.get("AIPORTAL_TIMEOUT", "30"))
    try:
        portal = connect(args) if args.needs_portal else None
        return args.user_func(args, portal)
    except Failure as e:
        message, code = str(e), e.code
    except PortalError as e:
        message, code = e.text, exit_code(e)
    except KeyboardInterrupt:
        message, code = "interrupted", 130
    except OSError as e:
        message, code = f"{getattr(e, 'filename', None) or ''}: {e.strerror or e}".lstrip(": "), FAILED
    print(f"aiportal: {command_name(args)}: {message}", file=sys.stderr)
    return code
