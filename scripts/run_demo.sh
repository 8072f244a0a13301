#!/usr/bin/env bash
# The main job on an embedded default: set up, build, then train a small Transformer-PSM and a GPT-2
# baseline on MQAR on the CPU (a few minutes), print their accuracy, and check that streaming
# inference reproduces the parallel predictions. Extra arguments go to `scanlab mqar-demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
./"${SCANLAB_BUILD_DIR:-build}"/scanlab mqar-demo --progress "$@"
