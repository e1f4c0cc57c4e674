"""Fixtures of the Kubernetes tests: the test cluster itself (tests/kube_cluster.py) and a
portal whose servers are its pods (tests/kubernetes/kube_portal.py).

- `kube_cluster` (registered in tests/conftest.py): the session's real Kubernetes cluster.
- `kube_portal`, `kube_token`: see tests/kubernetes/kube_portal.py.
- `namespace`: a fresh namespace for one test, with its default ServiceAccount; deleted after.
- `hello_image`: `localhost/aiportal-hello:test`, imported into the cluster: a FROM-scratch
  image of one static Go binary (no shell, no curl in it):
  `/hello` serves "hello from <pod name>" on :8080; `/hello fetch URL` prints URL's body.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from tests.kube_cluster import CACHE, KubeCluster, run
from tests.kubernetes.kube_portal import kube_portal, kube_token  # noqa: F401  (fixtures)

HELLO_IMAGE = "localhost/aiportal-hello:test"
HELLO_GO = """\
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// fetch retries for 20 s: a pod may start before kube-proxy has synced a new Service.
func fetch(url string) {
	client := http.Client{Timeout: 5 * time.Second}
	var err error
	for i := 0; i < 40; i++ {
		var resp *http.Response
		if resp, err = client.Get(url); err == nil {
			io.Copy(os.Stdout, resp.Body)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "fetch" {
		fetch(os.Args[2])
		return
	}
	name, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "hello from %s\\n", name) })
	fmt.Fprintln(os.Stderr, http.ListenAndServe(":8080", nil))
	os.Exit(1)
}
"""


@pytest.fixture
def namespace(kube_cluster: KubeCluster):
    name = f"kt-{uuid.uuid4().hex[:8]}"
    kube_cluster.kubectl("create", "namespace", name)
    deadline = time.monotonic() + 30
    while kube_cluster.kubectl("-n", name, "get", "serviceaccount", "default", check=False).returncode:
        assert time.monotonic() < deadline, f"namespace {name} got no default ServiceAccount in 30 s"
        time.sleep(0.2)
    yield name
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def hello_image(kube_cluster: KubeCluster) -> str:
    """Built in the cache (Go's build cache makes a rebuild a no-op) and imported once a session."""
    d = CACHE / "images" / "hello"
    d.mkdir(parents=True, exist_ok=True)
    (d / "main.go").write_text(HELLO_GO)
    (d / "Containerfile").write_text('FROM scratch\nCOPY hello /hello\nUSER 65534:65534\nENTRYPOINT ["/hello"]\n')
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOWORK": "off", "GOTOOLCHAIN": "local",
           "GO111MODULE": "off"}
    run(["go", "build", "-ldflags=-s -w", "-o", d / "hello", d / "main.go"], timeout=600, env=env, cwd=d)
    run(["podman", "build", "-q", "-t", HELLO_IMAGE, d], timeout=120)
    kube_cluster.import_image(HELLO_IMAGE)
    return HELLO_IMAGE

