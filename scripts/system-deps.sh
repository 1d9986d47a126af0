#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/apt-packages.txt that are missing.
# Runs apt-get (after apt-get update) only when something is missing and we are root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
need=()
while read -r package probe; do
  [[ -z "$package" || "$package" == \#* ]] && continue
  command -v "$probe" >/dev/null 2>&1 || dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done < "$here/apt-packages.txt"
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "sluice: missing system packages: ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
echo "sluice: installing system packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
