#!/usr/bin/env bash
# Install and configure Podman for aiportal on a Debian host (idempotent, fast when done).
#
# Why each piece (see docs/containers.md):
#   runc      - crun fails on hybrid (v1 + v2) cgroup hosts such as these machines.
#   netavark  - satisfies podman's virtual container-network-stack; iptables lets it
#               publish ports on the bridge network (-p 127.0.0.1:P:P).
#   debootstrap - builds the local Debian base rootfs (no image registry reachable).
# Rootless extras (uidmap, slirp4netns, fuse-overlayfs) are not needed: we run as root.
set -euo pipefail

# CONTAINERS_CONF is podman's own override of the file it reads.
CONF=${CONTAINERS_CONF:-/etc/containers/containers.conf}
PKGS=(podman runc netavark iptables debootstrap)
did=()

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "podman-setup: missing ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # apt-get update only when the package lists cannot resolve what we need.
  if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  did+=("installed ${missing[*]}")
fi

# Settings these hosts need (DESIGN.md "Machine facts"). Only keys that are absent are
# added, so an operator's own containers.conf is extended, never overwritten.
ensure_key() { # section key value
  local section=$1 key=$2 value=$3
  local have
  have=$(grep -E "^[[:space:]]*${key}[[:space:]]*=" "$CONF" 2>/dev/null | head -n1 | sed 's/^[^=]*=[[:space:]]*//') || true
  if [[ -n $have ]]; then
    [[ $have == "$value" ]] || did+=("kept $key = $have (aiportal expects $value)")
    return 0
  fi
  if [[ ! -w $CONF && -e $CONF ]] || [[ ! -e $CONF && ! -w $(dirname "$CONF") ]]; then
    echo "podman-setup: cannot write $CONF (need root) to add $key" >&2; return 1
  fi
  if grep -Eq "^\[${section}\]" "$CONF" 2>/dev/null; then
    # Insert the key right after the existing section header.
    sed -i "/^\[${section}\]/a ${key} = ${value}" "$CONF"
  else
    printf '\n[%s]\n%s = %s\n' "$section" "$key" "$value" >>"$CONF"
  fi
  did+=("set $key")
}
[[ -d $(dirname "$CONF") ]] || mkdir -p "$(dirname "$CONF")"
ensure_key containers default_ulimits '["nofile=20000:20000", "nproc=4096:4096"]'
ensure_key engine runtime '"runc"'
ensure_key engine cgroup_manager '"cgroupfs"'
# Debian's podman also ships a CNI conflist whose plugins are absent; naming the backend
# stops podman from validating it (and warning) on every call.
ensure_key network network_backend '"netavark"'

# The tests' OCI registry (tests/registry.py) serves plain HTTP on a fixed loopback port.
# Podman's Docker-compatible API has no per-pull TLS switch (the prod server spawn pulls
# 127.0.0.1:5055/…@sha256:… through it), so the registry is declared insecure here, once,
# before any Podman service reads its registries configuration.
TEST_REGISTRY=${AIPORTAL_TEST_REGISTRY:-127.0.0.1:5055}
DROPIN=/etc/containers/registries.conf.d/50-aiportal-test-registry.conf
want=$(printf '# aiportal tests: tests/registry.py (written by scripts/podman-setup.sh)\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$TEST_REGISTRY")
if [[ "$(cat "$DROPIN" 2>/dev/null)" != "$want" ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "podman-setup: run as root to write $DROPIN" >&2; exit 1; }
  mkdir -p "$(dirname "$DROPIN")" && printf '%s\n' "$want" >"$DROPIN"
  did+=("declared the test registry $TEST_REGISTRY insecure in $DROPIN")
fi

if ((${#did[@]})); then
  msg=$(printf '%s; ' "${did[@]}")
  echo "podman-setup: ${msg%; } ($CONF)"
else
  echo "podman-setup: podman $(podman --version | awk '{print $3}') already set up ($CONF)"
fi
