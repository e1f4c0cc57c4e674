"""Throwaway Prometheus and Alertmanager processes (Debian's `prometheus`,
`prometheus-alertmanager`) on free ports, their data in a folder of the caller's.

    with Prometheus(tmp / "prom", {"scrape_configs": [...]}) as prom:
        prom.query("up")            # the `data` of /api/v1/query; AssertionError if refused
        prom.wait_for("up == 1")    # until the query returns a sample

Also used by other test packages (the usage charts): keep it free of portal specifics.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import requests
import yaml

from portal.ports import free_port

HTTP_TIMEOUT = 10


class Server:
    """A process serving HTTP on 127.0.0.1:<port>, ready when /-/ready answers 200."""

    command: list[str]
    config_name: str

    def __init__(self, folder: Path, config: dict, start_timeout: float = 20):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_file = self.folder / self.config_name
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log = self.folder / "log.txt"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.arguments(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.command[0]} did not become ready:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def get(self, path: str, **params) -> dict:
        r = requests.get(f"{self.url}{path}", params=params, timeout=HTTP_TIMEOUT)
        body = r.json()
        assert r.status_code == 200 and body.get("status") == "success", f"GET {path} {params}: {r.status_code} {body}"
        return body.get("data")


class Prometheus(Server):
    config_name = "prometheus.yml"

    def arguments(self) -> list[str]:
        return ["prometheus", f"--config.file={self.config_file}", f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]

    def query(self, expr: str) -> dict:
        """/api/v1/query's data: {resultType, result}. AssertionError when Prometheus refuses it."""
        return self.get("/api/v1/query", query=expr)

    def wait_for(self, expr: str, timeout: float = 30) -> list[dict]:
        """The samples of `expr` once it has any; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not (result := self.query(expr)["result"]):
            assert time.monotonic() < deadline, f"no sample of {expr} after {timeout} s"
            time.sleep(0.25)
        return result


class Alertmanager(Server):
    config_name = "alertmanager.yml"

    def arguments(self) -> list[str]:
        return ["prometheus-alertmanager", f"--config.file={self.config_file}",
                f"--storage.path={self.folder / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=", "--log.level=warn"]

    def alerts(self) -> list[dict]:
        r = requests.get(f"{self.url}/api/v2/alerts", timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        return r.json()
