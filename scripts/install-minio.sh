#!/usr/bin/env bash
# Build the MinIO server from the Go module proxy into a cache outside the repository.
#
#   scripts/install-minio.sh        -> prints the path of the binary
#
# The binary lands in ${AIPORTAL_CACHE:-$HOME/.cache/aiportal}/bin/minio. A warm run
# (binary present and built from the pinned version) returns at once. A cold build
# takes several minutes on 2 cores.
#
# MinIO publishes no semver tags, so the Go module proxy serves it under pseudo-versions.
# The pin below is the last commit of the upstream repository (maintenance mode since
# 2025-12); it builds with Go >= 1.24 (tested with Go 1.26).
set -euo pipefail

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE="${AIPORTAL_CACHE:-$HOME/.cache/aiportal}"
BIN_DIR="$CACHE/bin"
BIN="$BIN_DIR/minio"
STAMP="$BIN_DIR/minio.version"

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$MINIO_VERSION" ]]; then
    echo "$BIN"
    exit 0
fi

command -v go >/dev/null || { echo "install-minio.sh: 'go' not found on PATH" >&2; exit 1; }

mkdir -p "$BIN_DIR"
echo "install-minio.sh: building github.com/minio/minio@$MINIO_VERSION (several minutes)..." >&2
start=$(date +%s)
# GOTOOLCHAIN=local: build with the installed Go instead of downloading the toolchain
# named in MinIO's go.mod (only the module proxy is reachable).
GOBIN="$BIN_DIR" GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
    go install "github.com/minio/minio@$MINIO_VERSION"
echo "$MINIO_VERSION" > "$STAMP"
echo "install-minio.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$BIN"
