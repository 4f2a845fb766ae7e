"""Builds rankopt._native with the project's CMake build and packages it with rankopt/.

Used by `pip install --no-build-isolation ./python` (pyproject.toml). The source tree is this
folder's parent; CMake builds only the module target (Release, no tests or benchmarks) in
build-pip/ under the source tree (one level down, like build/, so ccache shares its objects), so
repeated installs reuse it. Environment:
RANKOPT_CMAKE_ARGS adds CMake arguments, RANKOPT_BUILD_JOBS sets the parallelism (default 2).
"""
import os
import re
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)


def project_version():
    with open(os.path.join(SOURCE, "CMakeLists.txt"), encoding="utf-8") as f:
        match = re.search(r"project\(rankopt VERSION ([0-9][0-9.]*)", f.read())
    if match is None:
        sys.exit(f"{SOURCE}/CMakeLists.txt: no 'project(rankopt VERSION x.y.z)'")
    return match.group(1)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = os.path.join(SOURCE, "build-pip")
        configure = ["cmake", "-S", SOURCE, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                     "-DRANKOPT_BUILD_TESTS=OFF", "-DRANKOPT_BUILD_BENCH=OFF",
                     "-DRANKOPT_BUILD_PYTHON=ON", f"-DPython3_EXECUTABLE={sys.executable}"]
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        if shutil.which("ccache"):
            configure += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
        configure += shlex.split(os.environ.get("RANKOPT_CMAKE_ARGS", ""))
        subprocess.run(configure, check=True)
        subprocess.run(["cmake", "--build", build_dir, "--target", "rankopt_python", "-j",
                        os.environ.get("RANKOPT_BUILD_JOBS", "2")], check=True)
        built = os.path.join(build_dir, "python", "rankopt")
        module = [f for f in os.listdir(built) if f.startswith("_native") and f.endswith(".so")]
        if len(module) != 1:
            sys.exit(f"{built}: expected one _native*.so, found {module}")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(built, module[0]), target)


setup(
    version=project_version(),
    packages=["rankopt"],
    package_data={"rankopt": ["__init__.pyi", "py.typed"]},
    ext_modules=[Extension("rankopt._native", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
