#!/usr/bin/env bash
# Build aiportal's container images locally with Podman, with no registry.
#
#   scripts/build-images.sh [NAME...]     build images/NAME/Containerfile (default: all but the prod template and
#                                         on-request images, dev first)
#   scripts/build-images.sh --lock NAME   regenerate images/NAME/requirements.lock inside the base
#
# The base is a Debian rootfs made by debootstrap (cached outside the clone) and imported as
# localhost/aiportal-base:bookworm; BASE=<image> uses a registry image instead. Each image is
# tagged localhost/aiportal-NAME:<hash> and :latest, where <hash> covers every file in
# images/NAME/, the base image ID and the IDs of other local aiportal images it names, so an
# unchanged image is skipped in well under a second.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${AIPORTAL_CACHE:-$HOME/.cache/aiportal}
SUITE=bookworm
LOCAL_BASE=localhost/aiportal-base:$SUITE
BASE=${BASE:-$LOCAL_BASE}
CA=/etc/ssl/certs/ca-certificates.crt
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { echo "build-images: $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Build and run steps reach the package indexes through the host network, and trust the
# host's CA bundle (hosts behind a TLS-inspecting proxy need it; elsewhere it is harmless).
RUN_OPTS=(--network host)
[[ -r $CA ]] && RUN_OPTS+=(-v "$CA:$CA:ro" --env "PIP_CERT=$CA")

ensure_base() {
  if [[ $BASE != "$LOCAL_BASE" ]]; then
    podman image exists "$BASE" || podman pull "$BASE"
    return
  fi
  podman image exists "$LOCAL_BASE" && return
  local tar=$CACHE/rootfs-$SUITE.tar t0
  if [[ ! -s $tar ]]; then
    [[ $(id -u) -eq 0 ]] || { log "debootstrap needs root (or set BASE=<image>)" >&2; exit 1; }
    t0=$(now)
    mkdir -p "$CACHE"
    local dir=$CACHE/rootfs-$SUITE.tmp
    rm -rf "$dir"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      "$SUITE" "$dir" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || { log "debootstrap failed, see $CACHE/debootstrap.log" >&2; exit 1; }
    # Package caches are only weight in an image.
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar --numeric-owner -C "$dir" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    rm -rf "$dir"
    log "debootstrapped $SUITE into $tar in $(since "$t0") s"
  fi
  t0=$(now)
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
    --change "LABEL org.aiportal.image=base" \
    "$tar" "$LOCAL_BASE" >/dev/null
  log "imported $LOCAL_BASE in $(since "$t0") s"
}

image_id() { podman image inspect --format '{{.Id}}' "$1"; }

# Repository paths an image's build context needs besides its own directory, one per line
# in images/NAME/context (e.g. the hub image installs the package itself). With that file
# the context mirrors the repository: images/NAME/ and those paths, at the same places.
context_paths() {
  local list=$ROOT/images/$1/context
  [[ -f $list ]] && grep -Ev '^[[:space:]]*(#|$)' "$list"
  return 0
}

# Every file and link of those paths (no byte code), NUL-separated, relative to the repository.
context_files() {
  local paths
  mapfile -t paths < <(context_paths "$1")
  ((${#paths[@]})) || return 0
  (cd "$ROOT" && find "${paths[@]}" \( -type f -o -type l \) ! -name '*.pyc' ! -path '*/__pycache__/*' -print0)
}

# Build arguments of images/NAME, one per line (they are also hashed: a changed label or
# base rebuilds the image).
build_args() {
  local lock=$ROOT/images/$1/requirements.lock lock_sha=none
  [[ -f $lock ]] && lock_sha=$(sha256sum "$lock" | cut -d' ' -f1)
  echo "BASE=$BASE"
  echo "BASE_DIGEST=sha256:$(image_id "$BASE")"
  echo "LOCK_SHA256=$lock_sha"
  [[ -r $CA ]] && echo "PIP_CERT=$CA"
  return 0
}

# Hash of what determines the image: its directory's files (names and contents), its build
# arguments (which carry the base image ID), and the IDs of the other local aiportal images
# its Containerfile names (e.g. a desktop image FROM dev).
input_hash() {
  local name=$1 dir=$ROOT/images/$1 ref
  {
    (cd "$dir" && find . -type f ! -name '*~' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    context_files "$name" | LC_ALL=C sort -z | (cd "$ROOT" && xargs -0 -r sha256sum)
    build_args "$name"
    grep -Eo 'localhost/aiportal-[a-z0-9-]+:[A-Za-z0-9._-]+' "$dir/Containerfile" | sort -u |
      while read -r ref; do
        [[ $ref == "$LOCAL_BASE" || $ref == "localhost/aiportal-$name:"* ]] && continue
        if podman image exists "$ref"; then echo "ref $ref $(image_id "$ref")"; fi
      done
  } | sha256sum | cut -c1-12
}

build_one() {
  local name=$1 dir=$ROOT/images/$1 repo=localhost/aiportal-$1 hash t0 a
  [[ -f $dir/Containerfile ]] || { log "no $dir/Containerfile" >&2; exit 1; }
  hash=$(input_hash "$name")
  if podman image exists "$repo:$hash"; then
    podman tag "$repo:$hash" "$repo:latest"
    log "skipped $repo:$hash (up to date)"
    return
  fi
  local context=$dir containerfile=$dir/Containerfile
  if [[ -n $(context_paths "$name") ]]; then
    context=$CACHE/context-$name containerfile=$CACHE/context-$name/images/$name/Containerfile
    rm -rf "$context" && mkdir -p "$context/images"
    cp -a "$dir" "$context/images/"
    context_files "$name" | (cd "$ROOT" && tar --null -T - -cf -) | tar -C "$context" -xf -
  fi
  local args=(--network host --layers -f "$containerfile" -t "$repo:$hash" -t "$repo:latest")
  while read -r a; do args+=(--build-arg "$a"); done < <(build_args "$name")
  [[ -r $CA ]] && args+=(-v "$CA:$CA:ro")
  t0=$(now)
  podman build "${args[@]}" "$context" >"$CACHE/build-$name.log" 2>&1 \
    || { tail -n 30 "$CACHE/build-$name.log" >&2; log "build of $name failed, see $CACHE/build-$name.log" >&2; exit 1; }
  [[ $context == "$dir" ]] || rm -rf "$context"
  # Drop this image's older hash tags (an image still used by a container survives untagged).
  local old
  for old in $(podman images --format '{{.Repository}}:{{.Tag}}' "$repo" | grep -Fvx -e "$repo:$hash" -e "$repo:latest"); do
    podman rmi "$old" >/dev/null 2>&1 || podman untag "$old" 2>/dev/null || true
  done
  log "built $repo:$hash in $(since "$t0") s ($(podman image inspect --format '{{.Size}}' "$repo:$hash" | awk '{printf "%.0f MB", $1/1e6}'))"
}

# Resolve requirements.in inside the base itself, so the lock matches the image's Python.
lock_one() {
  local dir=$ROOT/images/$1
  [[ -f $dir/requirements.in ]] || { log "no $dir/requirements.in" >&2; exit 1; }
  podman run --rm "${RUN_OPTS[@]}" -v "$dir:/in:ro" "$BASE" sh -ec '
    python3 -m venv /tmp/v >/dev/null
    /tmp/v/bin/pip install -q --disable-pip-version-check ${PIP_CERT:+--cert "$PIP_CERT"} -r /in/requirements.in >&2
    echo "# Generated by scripts/build-images.sh --lock from requirements.in; do not edit."
    echo "# $(/tmp/v/bin/python --version)"
    /tmp/v/bin/pip freeze --all --exclude-editable | grep -Ev "^(pip|setuptools|wheel)=="
  ' >"$dir/requirements.lock.tmp"
  mv "$dir/requirements.lock.tmp" "$dir/requirements.lock"
  log "locked $(grep -vc '^#' "$dir/requirements.lock") packages into $dir/requirements.lock"
}

command -v podman >/dev/null || { log "podman is missing: run scripts/podman-setup.sh" >&2; exit 1; }
mkdir -p "$CACHE"
# One build at a time per cache (make up and make images may race on the rootfs and tags).
exec 9>"$CACHE/.build.lock"
flock 9
T0=$(now)
ensure_base
if [[ ${1:-} == --lock ]]; then
  shift
  for name in "$@"; do lock_one "$name"; done
  exit 0
fi
if (($# == 0)); then
  # dev first: other images may build on it.
  # images/prod is a template that GitLab CI builds FROM a team's dev image, not a local image;
  # an image whose Containerfile starts with "# aiportal-build: on-request" (vllm: GPUs only)
  # is built only when named.
  mapfile -t names < <(cd "$ROOT/images" && for f in */Containerfile; do
      [[ ${f%%/*} == prod ]] || head -n1 "$f" | grep -qx '# aiportal-build: on-request' || echo "${f%%/*}"; done |
    LC_ALL=C sort | awk '$0 == "dev" { print; next } { rest[n++] = $0 } END { for (i = 0; i < n; i++) print rest[i] }')
  set -- "${names[@]}"
fi
for name in "$@"; do build_one "$name"; done
log "done in $(since "$T0") s"
