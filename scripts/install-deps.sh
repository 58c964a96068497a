#!/usr/bin/env bash
# Installs the Debian 12 packages Civitas needs to build, test and run, if any are missing.
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

packages=(
  build-essential make cmake ninja-build pkg-config git ca-certificates
  libsimdjson-dev librocksdb-dev libre2-dev libzstd-dev liblz4-dev libsnappy-dev libgflags-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgoogle-perftools-dev
  libmosquitto-dev mosquitto libssl-dev openssl zlib1g-dev
  clang-14 libclang-rt-14-dev
  curl python3
  chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# The dashboard's toolchain (web/: vite, Vitest, playwright-core) needs node >= 18.19 and npm:
# Debian 12's nodejs (18.19) and npm (9.2) do; a node and npm from elsewhere (nodesource, nvm)
# are used as they are.
if ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
