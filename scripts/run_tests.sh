#!/usr/bin/env bash
# The test suite: set up, build, run every test through CTest (GoogleTest, CLI tests and, when the
# Python extension is built, python.pytest: pytest of python/tests, which fails if nothing is collected).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
SCANLAB_TEST_PACKAGES=1 bash scripts/bootstrap.sh
cd "${SCANLAB_BUILD_DIR:-build}"
ctest --output-on-failure -j "${SCANLAB_JOBS:-$(nproc)}" --timeout 1800
# CI (.ci/run) also runs every fuzz target for a fixed time each (fuzz/run_ci.sh: two sanitized
# builds, the quick one and the library's).
if [[ ${SCANLAB_FUZZ_CI:-0} == 1 ]]; then
  cd "$root"
  bash fuzz/run_ci.sh "${SCANLAB_FUZZ_SECONDS:-20}" "${SCANLAB_BUILD_DIR:-build}-fuzz"
fi
