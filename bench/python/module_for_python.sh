#!/usr/bin/env bash
# The rankopt Python package built for another CPython than Debian's 3.11, for a benchmark machine
# that has only that Python (the `device` tool's 16-core Xeon runs 3.12 with numpy 2): compiles
# python/src/module.cc against that Python's headers with the same flags as the build, links it
# with the build's static libraries, and copies the pure-Python part and the shared libraries the
# module needs (not glibc) beside it.
#
#   bench/python/module_for_python.sh PYTHON_INCLUDE_DIR OUT_DIR [BUILD_DIR (default build)]
#   e.g. bench/python/module_for_python.sh ~/.pyenv/versions/3.12.1/include/python3.12 bundle/py
# There: PYTHONPATH=OUT_DIR LD_LIBRARY_PATH=OUT_DIR/lib python3 -c 'import rankopt'
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
include="${1:?usage: module_for_python.sh PYTHON_INCLUDE_DIR OUT_DIR [BUILD_DIR]}"
out="${2:?usage: module_for_python.sh PYTHON_INCLUDE_DIR OUT_DIR [BUILD_DIR]}"
build="$(cd "${3:-$root/build}" && pwd)"
[[ -f "$include/Python.h" ]] || { echo "$include: no Python.h" >&2; exit 2; }
version=$(awk '$2 == "PY_MAJOR_VERSION" {a = $3} $2 == "PY_MINOR_VERSION" {b = $3} END {if (a) print a b}' "$include/patchlevel.h")
[[ -n "$version" ]] || { echo "$include/patchlevel.h: no PY_VERSION" >&2; exit 2; }
ninja -C "$build" rankopt_python >/dev/null
native_311=$(cd "$build" && ls python/rankopt/_native.cpython-*.so | head -1)
object=python/CMakeFiles/rankopt_python.dir/src/module.cc.o
compile=$(cd "$build" && ninja -t commands "$object" | tail -1)
link=$(cd "$build" && ninja -t commands "$native_311" | tail -1)
mkdir -p "$out/rankopt" "$out/lib"
out="$(cd "$out" && pwd)"
target="$out/rankopt/_native.cpython-$version-x86_64-linux-gnu.so"
# The same commands with the other headers, object and output.
compile=$(sed -e "s#-isystem [^ ]*/python3\.[0-9]*#-isystem $include#" \
              -e "s#-o $object#-o $out/module.o#" -e 's#-MD -MT [^ ]* -MF [^ ]*##' <<<"$compile")
link=$(sed -e "s#-o $native_311 $object#-o $target $out/module.o#" <<<"$link")
(cd "$build" && eval "$compile" && eval "$link")
rm -f "$out/module.o"
cp "$root"/python/rankopt/{__init__.py,__init__.pyi,py.typed} "$out/rankopt/"
ldd "$target" | awk '$3 ~ /^\// {print $3}' |
  grep -vE '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$out/lib/"; done
echo "$target"
du -sh "$out"
