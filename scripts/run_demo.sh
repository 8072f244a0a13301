#!/usr/bin/env bash
# The main job on an embedded default: set up, build the CLI only (not the test suite; the demo needs
# no downloaded data), then train a small Transformer-PSM and a GPT-2 baseline on a state-tracking task (flip-flop) on the CPU,
# each until its validation target or step cap, print their accuracy (also on the answers only Agg carries, and at longer lengths), check that streaming inference
# reproduces the parallel predictions, and print state bytes vs tokens. Extra arguments go to
# `scanlab train-demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
SCANLAB_FETCH_DATA=0 bash scripts/bootstrap.sh scanlab
./"${SCANLAB_BUILD_DIR:-build}"/scanlab train-demo --progress "$@"
