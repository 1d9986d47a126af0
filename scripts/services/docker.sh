#!/usr/bin/env bash
# Starts a Docker engine for the sandbox when none answers, then builds the runtime
# image if it is missing (cached by content hash: a no-op once built on this machine).
# Idempotent: run it as often as you like. The engine gets no bridge and no iptables
# rules: Sluice runs every container with network_mode=none.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
log="${SLUICE_DOCKERD_LOG:-/var/log/sluice-dockerd.log}"

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "sluice: dockerd is not installed; run scripts/system-deps.sh (Debian package docker.io)" >&2
    exit 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "sluice: no Docker engine answers and starting one needs root; the sandbox will use bubblewrap" >&2
    exit 0
  fi
  echo "sluice: starting dockerd (log: $log)"
  # setsid + nohup: the engine outlives this script and the make run that started it.
  setsid nohup dockerd --bridge=none --iptables=false --ip6tables=false >>"$log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    echo "sluice: dockerd did not answer within 60 s; see $log" >&2
    tail -n 20 "$log" >&2 || true
    exit 1
  fi
fi

python="$here/.venv/bin/python"
[ -x "$python" ] || python=python3
"$python" -m service.cli sandbox build-image --if-missing
