#!/usr/bin/env bash
# Installs the Debian packages mvla needs, only those that are missing.
# Usage: scripts/install-deps.sh [build|dev]
#   build (default): what `make`, `make test` and `make demo` need.
#   dev:             also python3-torch and numpy, to regenerate the reference outputs in tests/ref/.
set -u
profile=${1:-build}
pkgs="build-essential pkg-config libopenblas-openmp-dev libjansson-dev"
if [ "$profile" = dev ]; then
  pkgs="$pkgs python3-torch python3-numpy"
fi
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "mvla: installing Debian packages:$missing"
sudo_cmd=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd="sudo"; else
    echo "mvla: missing packages:$missing" >&2
    echo "mvla: not root and no sudo; install them with: apt-get install$missing" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo_cmd apt-get install -y --no-install-recommends $missing; then
  $sudo_cmd apt-get update -q && $sudo_cmd apt-get install -y --no-install-recommends $missing || {
    echo "mvla: could not install:$missing (no network or no apt?). Install them by hand: apt-get install$missing" >&2
    exit 1
  }
fi
