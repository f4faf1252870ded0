#!/bin/sh
# Installs the mvla library for other programs: build/libmvla.a, include/mvla.h and a generated
# pkg-config file, so that `cc app.c $(pkg-config --cflags --libs mvla)` works.
#   scripts/install.sh [PREFIX]        (default /usr/local; run `make` first)
# BUILD=<dir> picks another build folder (default build).
set -eu
PREFIX=${1:-${PREFIX:-/usr/local}}
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
[ -f "$BUILD/libmvla.a" ] || { echo "install.sh: $BUILD/libmvla.a is missing: run make first" >&2; exit 1; }
VERSION=$(git describe --tags --always 2>/dev/null || echo 0.1)
blas_libs=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
hdf5_libs=$(pkg-config --libs hdf5 2>/dev/null || echo -lhdf5)
v4l2_libs=$(pkg-config --libs libv4l2 2>/dev/null || echo -lv4l2)
stb_cflags=$(pkg-config --cflags stb 2>/dev/null || echo -I/usr/include/stb)
install -d "$PREFIX/lib/pkgconfig" "$PREFIX/include"
install -m 644 "$BUILD/libmvla.a" "$PREFIX/lib/libmvla.a"
install -m 644 include/mvla.h "$PREFIX/include/mvla.h"
tmp=$(mktemp)
cat > "$tmp" <<PC
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: mvla
Description: run mvla vision-language-action policies (model files from mvla export)
Version: $VERSION
Cflags: -I\${includedir} $stb_cflags
Libs: -L\${libdir} -lmvla -fopenmp $blas_libs $hdf5_libs $v4l2_libs -lstb -ljansson -lpthread -lm
PC
install -m 644 "$tmp" "$PREFIX/lib/pkgconfig/mvla.pc"
rm -f "$tmp"
echo "installed mvla into $PREFIX (pkg-config: PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig)"
