#!/usr/bin/env bash
# Installs everything rankopt builds and tests with: Debian 12 packages, plus ONNX Runtime from npm
# as a test peer. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
packages=(
  cmake ninja-build g++ pkg-config
  libprotobuf-dev protobuf-compiler   # GraphDef/ONNX/manifest protos
  libabsl-dev                         # Status/StatusOr, containers, strings
  libonnx-dev                         # ONNX schema + checker
  libleveldb-dev libsnappy-dev        # SavedModel variables.index (LevelDB table format); Debian's
                                      # leveldb CMake package links snappy but does not depend on it
  libyaml-cpp-dev libxxhash-dev libfarmhash-dev libsimdjson-dev   # feature configs and pipeline
  libtbb-dev libeigen3-dev
  libcpp-httplib-dev                  # the HTTP client of `rankopt serve`'s tests
  libevent-dev                        # `rankopt serve`'s event-driven HTTP server (libevent loops)
  zlib1g-dev                          # gzip/deflate request bodies; the gzipped TFRecord fixtures
  libhiredis-dev redis-server redis-tools   # remote tables in a Redis Cluster (and its tests)
  python3-dev python3-pybind11 python3-pytest python3-setuptools python3-pip python3-wheel
  python3-venv                        # the Python package (python/) and its tests
  clang-14 libclang-rt-14-dev         # sanitizer builds and libFuzzer (scripts/sanitize.sh, fuzz.sh)
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-numpy               # fixture generators and test helpers
)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)              # ONNX Runtime (npm onnxruntime-node) as a test peer
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}"

# ONNX Runtime's CPU library ships inside npm's onnxruntime-node; its postinstall download cannot
# run offline and is not needed. Tests that use it skip when this step did not run.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --prefix tests/ort --no-audit --no-fund
