#!/usr/bin/env bash
# System packages the tests need, installed through apt-get when missing (as root).
#   chromium   - the real browser Playwright drives (no browser download is possible here)
#   postgresql - the production database, run by the tests as a throwaway cluster
#   docker-registry - a real OCI registry (distribution 2.8) that Kaniko pulls from and pushes to
#   git        - the GitLab double's repositories and `git archive` of tagged commits
#   prometheus - Prometheus and promtool: dashboards' queries, alert rules and their unit tests, the alert E2E
#   prometheus-alertmanager - Alertmanager and amtool: generated configs, routing, alert delivery
#   slurm-wlm, munge - slurmctld, slurmd and the Slurm CLI: the Slurm job backend's tests run a real one-node cluster
#   openssh-client - ssh, sftp, scp, ssh-keygen: the SSH endpoint's tests log in with the real OpenSSH client
# (installing them starts no service here; the tests run their own on free ports)
# Podman, runc and debootstrap come from scripts/podman-setup.sh.
set -euo pipefail

PKGS=(chromium postgresql docker-registry git prometheus prometheus-alertmanager slurm-wlm munge openssh-client)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "system-deps: missing ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-cache show "${missing[@]}" >/dev/null 2>&1 || apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system-deps: installed ${missing[*]}"
