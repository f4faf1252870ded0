#!/usr/bin/env bash
# Installs the Debian packages mvla needs, only those that are missing.
# Usage: scripts/install-deps.sh [build|dev]
#   build (default): what `make`, `make test` and `make demo` need (python3-h5py: the tests check
#                    that h5py reads our episode files exactly as the collector's).
#   dev:             also python3-torch and Pillow, to regenerate the PyTorch references in tests/ref/
#                    and to run the peer benchmarks in bench/.
set -u
profile=${1:-build}
pkgs="build-essential pkg-config libopenblas-openmp-dev libjansson-dev libhdf5-dev libstb-dev libv4l-dev python3-h5py"
if [ "$profile" = dev ]; then
  pkgs="$pkgs python3-torch python3-numpy python3-pil"
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
