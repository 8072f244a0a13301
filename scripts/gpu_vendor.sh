#!/usr/bin/env bash
# Run here (a Debian machine with the packages of scripts/apt-packages.txt) before a GPU run: copies
# the header-only libraries and googletest's sources into .vendor/ (git-ignored), which the device
# call carries, since the GPU machine has no package manager.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .vendor && mkdir -p .vendor/include
cp -r /usr/include/CLI /usr/include/nlohmann /usr/include/fmt /usr/include/toml++ .vendor/include/
# Debian's cpp-httplib header only declares (its definitions are in libcpp-httplib.so, built with
# OpenSSL, zlib and brotli), so it is no use on the GPU machine. Upstream's header-only httplib.h of
# the same release (0.11.4), if HTTPLIB_HEADER names it, goes to .vendor/httplib/, where CMake
# takes it; without it `scanlab serve` is left out of the GPU build.
if [[ -n ${HTTPLIB_HEADER:-} ]]; then
  grep -q 'CPPHTTPLIB_VERSION "0.11' "$HTTPLIB_HEADER" || { echo "gpu_vendor: $HTTPLIB_HEADER is not cpp-httplib 0.11.x (Debian 12 ships 0.11.4)" >&2; exit 2; }
  mkdir -p .vendor/httplib && cp "$HTTPLIB_HEADER" .vendor/httplib/httplib.h
else
  echo "gpu_vendor: HTTPLIB_HEADER not set: the GPU build will leave out \`scanlab serve\`" >&2
fi
cp -r /usr/src/googletest .vendor/googletest
du -sh .vendor
