"""Builds scanlab._C with the repository's CMake and packages it with scanlab/*.py.

The extension is the CMake target scanlab_python (python/CMakeLists.txt), built in the repository's
build folder (SCANLAB_BUILD_DIR, default <repo>/build, as scripts/bootstrap.sh uses), so an existing
build only relinks. The interpreter running pip is the one the extension is built for: its torch
must be the LibTorch release CMake finds (Debian: python3-torch with libtorch-dev; a GPU machine:
the PyTorch wheel, found through this interpreter).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

REPO = Path(__file__).resolve().parent.parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = Path(os.environ.get("SCANLAB_BUILD_DIR", "build"))
        if not build_dir.is_absolute():
            build_dir = REPO / build_dir
        args = [f"-DSCANLAB_PYTHON_EXECUTABLE={sys.executable}", "-DSCANLAB_PYTHON_EXT=ON"]
        if not (build_dir / "CMakeCache.txt").exists():
            generator = ["-G", "Ninja"] if shutil.which("ninja") else []
            args += generator + ["-DCMAKE_BUILD_TYPE=Release", "-DSCANLAB_TESTS=OFF", "-DSCANLAB_BENCH=OFF"]
        args += os.environ.get("SCANLAB_CMAKE_ARGS", "").split()
        subprocess.check_call(["cmake", "-S", str(REPO), "-B", str(build_dir), *args])
        jobs = os.environ.get("SCANLAB_JOBS", str(os.cpu_count() or 1))
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", "scanlab_python", "-j", jobs])
        built = list((build_dir / "python" / "scanlab").glob("_C*.so"))
        if len(built) != 1:
            raise RuntimeError(f"expected one scanlab/_C*.so in {build_dir / 'python'}, found {built}")
        dest = Path(self.get_ext_fullpath(ext.name))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built[0], dest)


setup(ext_modules=[Extension("scanlab._C", sources=[])], cmdclass={"build_ext": CMakeBuild})
