#!/usr/bin/env bash
# Starts the services the tests need (each scripts/services/*.sh), for `make test`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for service in "$here"/services/*.sh; do
  [ -e "$service" ] || continue
  bash "$service"
done
