#!/usr/bin/env bash
# Installs the real SIP peers and audio tools the interop tests in tests/ run against
# (Debian packages): sipp, kamailio with its TLS module, baresip, espeak-ng, sox, dnsmasq (a
# name server for the RFC 3263 test), and chromium for the
# web desk's browser tests; PJSIP's Python binding `pjsua2-python` and Playwright
# for Python (`playwright`, driving that chromium) from PyPI. Idempotent and quiet:
# does nothing when every tool is already there, so CI can call it every run.
set -euo pipefail

# package -> a program (or file) it ships, to tell whether it is installed.
declare -A probe=(
  [sip-tester]=sipp
  [kamailio]=kamailio
  [baresip-core]=baresip
  [espeak-ng]=espeak-ng
  [sox]=sox
  [dnsmasq-base]=dnsmasq
  [chromium]=chromium
)

missing=()
# Kamailio's TLS module ships no program: look for the module itself.
if ! compgen -G "/usr/lib/*/kamailio/modules/tls.so" >/dev/null; then
  missing+=(kamailio-tls-modules)
fi
for pkg in "${!probe[@]}"; do
  # kamailio lives in /usr/sbin, which a non-login PATH may lack.
  if ! PATH="$PATH:/usr/sbin:/sbin" command -v "${probe[$pkg]}" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done

# PJSIP as a test peer (tests/pjsua/peer.py): the `pjsua2-python` wheel from PyPI,
# for the `python3` on PATH (the one the tests run). Debian's own python3 refuses
# plain `pip install` (PEP 668), hence the second attempt.
# pip module -> PyPI package. Playwright only drives Debian's chromium
# (executable_path in tests/web/desk.py): its own browser download is not needed.
# numpy, scipy and pesq score recordings (tests/pesq/pesq_wb.py, PESQ-WB in
# tests/audio_loss.rs); pesq builds a small C extension with gcc.
declare -A pip_probe=(
  [pjsua2]=pjsua2-python
  [playwright.sync_api]=playwright
  [numpy]=numpy
  [scipy]=scipy
  [pesq]=pesq
)
pip_missing=()
for module in "${!pip_probe[@]}"; do
  if ! python3 -c "import $module" >/dev/null 2>&1; then
    pip_missing+=("${pip_probe[$module]}")
  fi
done
if [ "${#pip_missing[@]}" -gt 0 ]; then
  echo "install-peers: installing ${pip_missing[*]} (pip)" >&2
  pip_sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    pip_sudo="sudo"
  fi
  if ! python3 -m pip --version >/dev/null 2>&1; then
    $pip_sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $pip_sudo apt-get install -y -qq --no-install-recommends \
      python3-pip >/dev/null
  fi
  pip_args=(install -q --disable-pip-version-check --root-user-action=ignore "${pip_missing[@]}")
  $pip_sudo python3 -m pip "${pip_args[@]}" >/dev/null 2>&1 \
    || $pip_sudo python3 -m pip "${pip_args[@]}" --break-system-packages >/dev/null
  for module in "${!pip_probe[@]}"; do
    python3 -c "import $module" >/dev/null 2>&1
  done
fi

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
  sip-tester kamailio kamailio-tls-modules baresip-core espeak-ng sox dnsmasq-base chromium >/dev/null
# The kamailio package enables a system service; the tests start their own
# instances on free ports, so a system one is not needed (and may not start in CI).
echo "install-peers: done" >&2
