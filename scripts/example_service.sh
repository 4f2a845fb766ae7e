#!/usr/bin/env bash
# Installs the built rankopt into a prefix, builds examples/ranking_service against that INSTALLED
# package (CMake's find_package and pkg-config), and runs it on the DIN package of README's first
# command (made here if missing). Assumes scripts/build.sh has run.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
prefix=${RANKOPT_PREFIX:-/tmp/rankopt-install}
package=${DIN_PACKAGE:-/tmp/din.rkp}
requests=tests/data/features/requests_din.jsonl

if [ ! -f "$package" ]; then
  "$build_dir/tools/rankopt" optimize tests/data/peers/din.onnx --features configs/din.yaml \
    --sample "$requests" -o "$package" > /dev/null
fi

rm -rf "$prefix" build-example
cmake --install "$build_dir" --prefix "$prefix" > /dev/null
cmake -S examples/ranking_service -B build-example -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" > /dev/null
cmake --build build-example
build-example/ranking_service "$package" "$requests" 4 50
build-example/ranking_service_c "$package" "$requests"

# pkg-config: the C client again, compiled by hand from the installed rankopt.pc.
export PKG_CONFIG_PATH
PKG_CONFIG_PATH="$(dirname "$(find "$prefix" -name rankopt.pc | head -1)")"
# shellcheck disable=SC2046  # pkg-config's flags are meant to split
cc examples/ranking_service/ranking_service_c.c -o build-example/ranking_service_c_pkgconfig \
  $(pkg-config --cflags --libs rankopt) -Wl,-rpath,"$(pkg-config --variable=libdir rankopt)"
build-example/ranking_service_c_pkgconfig "$package" "$requests"
