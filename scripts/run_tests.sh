#!/usr/bin/env bash
# The test suite: set up, build, run every test through CTest (GoogleTest, CLI tests and, when the
# Python extension is built, python.pytest: pytest of python/tests, which fails if nothing is collected).
set -euo pipefail
cd "$(dirname "$0")/.."
SCANLAB_TEST_PACKAGES=1 bash scripts/bootstrap.sh
cd "${SCANLAB_BUILD_DIR:-build}"
ctest --output-on-failure -j "${SCANLAB_JOBS:-$(nproc)}" --timeout 1800
