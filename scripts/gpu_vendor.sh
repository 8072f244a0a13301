#!/usr/bin/env bash
# Run here (a Debian machine with the packages of scripts/apt-packages.txt) before a GPU run: copies
# the header-only libraries and googletest's sources into .vendor/ (git-ignored), which the device
# call carries, since the GPU machine has no package manager.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .vendor && mkdir -p .vendor/include
cp -r /usr/include/CLI /usr/include/nlohmann /usr/include/fmt /usr/include/toml++ .vendor/include/
# Debian's cpp-httplib header only declares; its definitions are in libcpp-httplib.so, which
# CMake finds through pkg-config. Without that there, `scanlab serve` is left out of the build.
[[ -f /usr/include/httplib.h ]] && cp /usr/include/httplib.h .vendor/include/
cp -r /usr/src/googletest .vendor/googletest
du -sh .vendor
