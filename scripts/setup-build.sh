#!/usr/bin/env bash
# Installs the system packages agentphone needs to build (Debian 12).
# Idempotent: does nothing when everything is present.
set -euo pipefail
need=()
for pkg in pkg-config cmake libasound2-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing build packages: ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
