#!/usr/bin/env bash
# Make sure a Docker-compatible Podman API socket answers, and print its path.
#
#   scripts/podman-service.sh            start it in the background if needed
#   source scripts/podman-service.sh; podman_service_socket   (same, as a function)
#
# The socket is /run/podman/podman.sock for root (what `podman system service` and
# podman.socket use by default), $XDG_RUNTIME_DIR/podman/podman.sock otherwise;
# AIPORTAL_PODMAN_SOCKET overrides it. The service runs with --time=0 (never exits on idle)
# and outlives this script; its log is <socket>.log.

podman_service_socket() {
  local sock=${AIPORTAL_PODMAN_SOCKET:-}
  if [[ -z $sock ]]; then
    if [[ $(id -u) -eq 0 ]]; then sock=/run/podman/podman.sock
    else sock=${XDG_RUNTIME_DIR:-/tmp/podman-$(id -u)}/podman/podman.sock; fi
  fi
  # /_ping is the Docker API's health check; podman answers "OK".
  if curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
    echo "$sock"; return 0
  fi
  command -v podman >/dev/null || { echo "podman-service: podman is not installed" >&2; return 1; }
  mkdir -p "$(dirname "$sock")"
  rm -f "$sock"  # a stale socket file from a dead service blocks the bind
  # setsid: the service must not die with this shell or receive its terminal's signals.
  setsid podman system service --time=0 "unix://$sock" >"$sock.log" 2>&1 </dev/null &
  local _
  for _ in $(seq 50); do
    if curl -fsS --max-time 1 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
      echo "$sock"; return 0
    fi
    sleep 0.1
  done
  echo "podman-service: no answer on $sock after 5 s, see $sock.log" >&2
  return 1
}

# Run as a script (not sourced): do it.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  podman_service_socket
fi
