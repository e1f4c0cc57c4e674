"""The `aiportal` command: up, config check, apps check, token, storage rotate-keys, ops (monitoring as code);
the developers' commands (login, teams, dev, data, jobs) are in usercli.py."""

from __future__ import annotations

import argparse
import os
import sys

from . import config as portal_config
from . import usercli

DEFAULT_DATA_DIR = os.environ.get("AIPORTAL_DATA_DIR", "data")


def _print_config_error(e: portal_config.ConfigError) -> int:
    print(f"{e.source}: {len(e.problems)} problem(s)", file=sys.stderr)
    for problem in e.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def cmd_up(args) -> int:
    from .launcher import LaunchError, run

    try:
        return run(args.data_dir, args.config, args.port)
    except portal_config.ConfigError as e:
        return _print_config_error(e)
    except LaunchError as e:
        print(f"aiportal up: {e}", file=sys.stderr)
        return 1


def cmd_config_check(args) -> int:
    try:
        cfg = portal_config.load(args.file)
    except portal_config.ConfigError as e:
        return _print_config_error(e)
    print(f"{args.file}: ok ({len(cfg.teams)} team(s), {len(cfg.profiles)} profile(s))")
    return 0


def cmd_config_defaults(args) -> int:
    """Every default of portal.yaml, read from the schema (the only place they are written)."""
    import yaml

    print(yaml.safe_dump(portal_config.with_defaults(portal_config.SCHEMA, {}), sort_keys=False), end="")
    return 0


def cmd_apps_check(args) -> int:
    """Each app file ok or its problems; exit 1 on any. Profiles named by apps are checked
    against portal.yaml where one is found, DIR defaulting to its `apps.directory`."""
    from .apps import catalog_for, load_catalog

    path = args.config or os.path.join(args.data_dir, "portal.yaml")
    try:
        cfg = portal_config.load(path) if args.config or os.path.exists(path) else None
    except portal_config.ConfigError as e:
        return _print_config_error(e)
    if args.dir is not None or cfg is None:
        catalog = load_catalog(args.dir, cfg.profiles if cfg else None)
    else:
        catalog = catalog_for(cfg)
    for app in catalog.apps.values():
        print(f"ok  {app.id}  {app.path}")
    for broken in catalog.broken:
        print(f"{broken.path}: {len(broken.problems)} problem(s)", file=sys.stderr)
        for problem in broken.problems:
            print(f"  {problem}", file=sys.stderr)
    if cfg is None:
        print("(profiles not checked: no portal.yaml; give --config)", file=sys.stderr)
    return 1 if catalog.broken else 0


def cmd_token(args) -> int:
    from .tokens import TokenError, new_token

    try:
        print(new_token(args.data_dir, args.user, args.config, args.note))
    except TokenError as e:
        print(f"aiportal token: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_storage_rotate_keys(args) -> int:
    import urllib3
    from minio.error import S3Error

    from .db import DatabaseUnavailable
    from .names import bucket_name, team_name_problem
    from .storage import StorageAdminError, StorageServerError, store_from_config

    def fail(message: str) -> int:
        print(f"aiportal storage rotate-keys: {message}", file=sys.stderr)
        return 1

    try:
        cfg = portal_config.load(args.config or os.path.join(args.data_dir, "portal.yaml"))
    except portal_config.ConfigError as e:
        return _print_config_error(e)
    if problem := team_name_problem(args.team):
        return fail(problem)
    bucket = bucket_name(args.team)
    try:
        store = store_from_config(cfg, args.data_dir)
        if not store.client().bucket_exists(bucket):
            return fail(f"no team {args.team!r} (no bucket {bucket!r})")
        creds = store.rotate_team_credentials(args.team, bucket)
    except (StorageAdminError, StorageServerError, DatabaseUnavailable, S3Error) as e:
        return fail(str(e))
    except (urllib3.exceptions.HTTPError, OSError):
        return fail(f"the storage server at {cfg.storage_endpoint} is not reachable" if cfg.storage_endpoint
                    else f"the embedded storage server (port {cfg.storage_port}) is not reachable: is the "
                    "portal running?")
    print(f"{args.team}: new S3 keys, access key {creds.access_key}. Servers started from now on get "
          "them; running servers and share links made before hold keys that no longer work.")
    return 0


def cmd_ops_dashboards(args) -> int:
    from .ops import dashboards

    for path in dashboards.render(args.outdir):
        print(path)
    return 0


def cmd_ops_rules(args) -> int:
    from .ops import rules, scrape

    if args.hold is not None:
        try:
            scrape.seconds(args.hold)
        except ValueError as e:
            print(f"aiportal ops rules: --for: {e}", file=sys.stderr)
            return 1
    print(rules.render(args.hold), end="")
    return 0


def cmd_ops_alertmanager(args) -> int:
    from .ops import alertmanager

    try:
        cfg = portal_config.load(args.config or os.path.join(args.data_dir, "portal.yaml"))
        print(alertmanager.render(cfg.raw["alerts"], args.url), end="")
    except portal_config.ConfigError as e:
        return _print_config_error(e)
    except ValueError as e:
        print(f"aiportal ops alertmanager: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_ops_prometheus(args) -> int:
    from .ops import scrape

    try:
        print(scrape.render(args.url, os.path.abspath(args.token_file), interval=args.interval, rules=args.rules,
                            alertmanager=args.alertmanager), end="")
    except ValueError as e:
        print(f"aiportal ops prometheus: {e}", file=sys.stderr)
        return 1
    return 0


def ops_parser(sub) -> None:
    ops = sub.add_parser("ops", help="monitoring as code: dashboards, alert rules, Prometheus and Alertmanager "
                                     "configs")
    ops_sub = ops.add_subparsers(dest="ops_command", required=True)
    boards = ops_sub.add_parser("dashboards", help="write the Grafana dashboards, one JSON file each")
    boards.add_argument("outdir")
    boards.set_defaults(func=cmd_ops_dashboards)
    rules = ops_sub.add_parser("rules", help="print the Prometheus alert rule file")
    rules.add_argument("--for", dest="hold", metavar="DURATION",
                       help="replace every rule's `for` (drills: see an alert through quickly)")
    rules.set_defaults(func=cmd_ops_rules)
    am = ops_sub.add_parser("alertmanager", help="print Alertmanager's config from portal.yaml's alerts section")
    am.add_argument("--url", required=True, help="the portal's public URL (Google Chat receivers post to it)")
    am.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    am.add_argument("--config", help="portal.yaml (default: <data-dir>/portal.yaml)")
    am.set_defaults(func=cmd_ops_alertmanager)
    prom = ops_sub.add_parser("prometheus", help="print a Prometheus config that scrapes the hub and the portal")
    prom.add_argument("--url", required=True, help="the portal's public URL, e.g. https://portal.example.org/")
    prom.add_argument("--token-file", required=True, help="file holding AIPORTAL_METRICS_TOKEN")
    prom.add_argument("--interval", default="30s", help="scrape and rule evaluation interval (default: %(default)s)")
    prom.add_argument("--rules", help="path of the rule file (from `aiportal ops rules`)")
    prom.add_argument("--alertmanager", metavar="HOST:PORT", help="where Prometheus sends alerts")
    prom.set_defaults(func=cmd_ops_prometheus)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aiportal", description="The aiportal platform portal.")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the single-machine portal in the foreground")
    up.add_argument("--config", help="portal.yaml (default: <data-dir>/portal.yaml)")
    up.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="state directory (default: %(default)s)")
    up.add_argument("--port", type=int, help="public port (default: hub.port of portal.yaml)")
    up.set_defaults(func=cmd_up)

    cfg = sub.add_parser("config", help="configuration commands")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    check = cfg_sub.add_parser("check", help="validate a portal.yaml")
    check.add_argument("file")
    check.set_defaults(func=cmd_config_check)
    defaults = cfg_sub.add_parser("defaults", help="print every default of portal.yaml (from its schema)")
    defaults.set_defaults(func=cmd_config_defaults)

    apps = sub.add_parser("apps", help="interactive app commands")
    apps_sub = apps.add_subparsers(dest="apps_command", required=True)
    apps_check = apps_sub.add_parser("check", help="check the app files: each ok or its problems; exit 1 if any")
    apps_check.add_argument("dir", nargs="?", help="directory of app files (default: apps.directory of portal.yaml)")
    apps_check.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    apps_check.add_argument("--config", help="portal.yaml, for its profiles (default: <data-dir>/portal.yaml)")
    apps_check.set_defaults(func=cmd_apps_check)

    tok = sub.add_parser("token", help="print a new hub API token for a user")
    tok.add_argument("user")
    tok.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    tok.add_argument("--config", help="portal.yaml (default: <data-dir>/portal.yaml)")
    tok.add_argument("--note", default="aiportal token")
    tok.set_defaults(func=cmd_token)

    storage = sub.add_parser("storage", help="team storage commands")
    storage_sub = storage.add_subparsers(dest="storage_command", required=True)
    rotate = storage_sub.add_parser("rotate-keys", help="replace a team's S3 keys (the old ones stop working)")
    rotate.add_argument("team")
    rotate.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    rotate.add_argument("--config", help="portal.yaml (default: <data-dir>/portal.yaml)")
    rotate.set_defaults(func=cmd_storage_rotate_keys)
    ops_parser(sub)
    usercli.register(sub)  # login, teams, dev, data, jobs: portal/usercli.py
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
