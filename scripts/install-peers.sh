#!/usr/bin/env bash
# Installs the real SIP peers and audio tools the interop tests in tests/ run against
# (Debian packages): sipp, kamailio, baresip, espeak-ng, sox. Idempotent and quiet:
# does nothing when every tool is already there, so CI can call it every run.
set -euo pipefail

# package -> a program it ships, to tell whether it is installed.
declare -A probe=(
  [sip-tester]=sipp
  [kamailio]=kamailio
  [baresip-core]=baresip
  [espeak-ng]=espeak-ng
  [sox]=sox
)

missing=()
for pkg in "${!probe[@]}"; do
  # kamailio lives in /usr/sbin, which a non-login PATH may lack.
  if ! PATH="$PATH:/usr/sbin:/sbin" command -v "${probe[$pkg]}" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-peers: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
# Install the full set, not only the missing ones: apt skips what is present.
$sudo apt-get install -y -qq --no-install-recommends \
  sip-tester kamailio baresip-core espeak-ng sox >/dev/null
# The kamailio package enables a system service; the tests start their own
# instances on free ports, so a system one is not needed (and may not start in CI).
echo "install-peers: done" >&2
