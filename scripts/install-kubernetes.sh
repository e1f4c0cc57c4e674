#!/usr/bin/env bash
# Build the parts of a real Kubernetes the tests run, from the Go module proxy and Debian's
# packages only (the verified recipe: docs/kubernetes.md), into a cache outside the clone:
#
#   ${AIPORTAL_CACHE:-$HOME/.cache/aiportal}/k8s-v$K8S/bin/
#     kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl
#                   (k8s.io/kubernetes; kube-proxy gives Services their cluster IPs)
#     etcd          (go.etcd.io/etcd/server/v3 with its go.mod's ../ replaces pointed at the
#                   published modules; Debian's 3.4 refuses the watch streams kwok asks for,
#                   which left GPU pods seconds late)
#     kwok helm     (go install)
#   .../images/pause-oci.tar   the sandbox image, built from the pause.c of the same tree
#
# Each part is stamped with its version; a warm run checks the stamps and returns at once.
# A cold run takes ~15 minutes on 2 cores (most of it compiling Kubernetes).
set -euo pipefail

K8S=1.37.2 STAGING=v0.37.2 KWOK=v0.8.0 HELM=v3.22.0
CACHE="${AIPORTAL_CACHE:-$HOME/.cache/aiportal}"
T="$CACHE/k8s-v$K8S"; B="$T/bin"; S="$T/src"
mkdir -p "$B" "$S" "$T/images"
export PATH="$PATH:/usr/local/go/bin" GOFLAGS="-buildvcs=false -mod=mod" GOWORK=off CGO_ENABLED=0 GOTOOLCHAIN=local

fresh() { [[ -x "$B/$1" && "$(cat "$B/$1.version" 2>/dev/null)" == "$2" ]]; }
stamp() { echo "$2" > "$B/$1.version"; }

# Debian packages of the node: containerd as the CRI, runc, the CNI plugins, iptables for kube-proxy
if [[ $(id -u) -eq 0 ]]; then
  missing=()
  for p in containerd containernetworking-plugins runc conntrack socat iptables; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-cache show "${missing[@]}" >/dev/null 2>&1 || apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
pids=()
ETCD=v3.7.3
if ! fresh etcd $ETCD; then
  ( D=$(go mod download -json go.etcd.io/etcd/server/v3@$ETCD | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
    E="$S/etcd-server-$ETCD"; rm -rf "$E" && cp -r "$D" "$E" && chmod -R u+w "$E"
    sed -i -E "s#^(\s*)(go\.etcd\.io/etcd/[a-z/0-9]+) => \.\./.*\$#\1\2 => \2 $ETCD#" "$E/go.mod"
    # to a new file: an older cache has bin/etcd as a link to Debian's etcd
    cd "$E" && go build -trimpath -ldflags "-s -w" -o "$B/etcd.tmp" . && mv -f "$B/etcd.tmp" "$B/etcd" \
      && stamp etcd $ETCD ) & pids+=($!)
fi
if ! fresh helm $HELM; then
  (GOBIN="$B" go install -ldflags "-s -w" helm.sh/helm/v3/cmd/helm@$HELM && stamp helm $HELM) & pids+=($!)
fi
if ! fresh kwok $KWOK; then
  (GOBIN="$B" go install -ldflags "-s -w" sigs.k8s.io/kwok/cmd/kwok@$KWOK && stamp kwok $KWOK) & pids+=($!)
fi

KD="$S/kubernetes-$K8S"
if ! fresh kubelet v$K8S || ! fresh kubectl v$K8S || ! fresh kube-apiserver v$K8S \
   || ! fresh kube-controller-manager v$K8S || ! fresh kube-scheduler v$K8S || ! fresh kube-proxy v$K8S; then
  if [[ ! -f "$KD/go.mod" ]]; then
    D=$(go mod download -json k8s.io/kubernetes@v$K8S | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
    rm -rf "$KD.tmp" && cp -r "$D" "$KD.tmp" && chmod -R u+w "$KD.tmp" && rm -f "$KD.tmp/go.work" "$KD.tmp/go.work.sum"
    # the staging modules are published on the proxy as k8s.io/X v0.37.2
    sed -i -E "s#^(\s*)(k8s\.io/[a-z0-9-]+) => \./staging/src/k8s\.io/[a-z0-9-]+\$#\1\2 => \2 $STAGING#" "$KD.tmp/go.mod"
    mv "$KD.tmp" "$KD"
  fi
  LDF="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S -X k8s.io/component-base/version.gitMajor=1"
  LDF="$LDF -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean"
  LDF="$LDF -X k8s.io/client-go/pkg/version.gitVersion=v$K8S"
  (cd "$KD" && go build -trimpath -ldflags "$LDF" -o "$B/" ./cmd/kube-apiserver ./cmd/kube-controller-manager \
     ./cmd/kube-scheduler ./cmd/kubelet ./cmd/kube-proxy ./cmd/kubectl)
  for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do stamp $c v$K8S; done
fi
for p in "${pids[@]}"; do wait "$p"; done

# the pod sandbox image, from the pause.c of the same tree
if [[ ! -f "$T/images/pause-oci.tar" ]]; then
  [[ -f "$KD/build/pause/linux/pause.c" ]] || D=$(go mod download -json k8s.io/kubernetes@v$K8S | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  src="$KD/build/pause/linux/pause.c"; [[ -f "$src" ]] || src="$D/build/pause/linux/pause.c"
  P="$T/images/pause"; mkdir -p "$P"
  gcc -Os -static -DVERSION=3.10-local -o "$P/pause" "$src" && strip "$P/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$P/Containerfile"
  podman build -q -t localhost/pause:3.10-local "$P" >/dev/null
  podman save --format oci-archive -o "$T/images/pause-oci.tar.tmp" localhost/pause:3.10-local
  mv "$T/images/pause-oci.tar.tmp" "$T/images/pause-oci.tar"
fi
echo "$B"
