#!/usr/bin/env bash
# The main job on an embedded default: set up, build, run the demo. Extra arguments go to `scanlab demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
./"${SCANLAB_BUILD_DIR:-build}"/scanlab demo "$@"
