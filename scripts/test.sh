#!/usr/bin/env bash
# The test command: installs what is missing, builds everything with warnings
# as errors, runs every test. BUILD_DIR (default build/) picks the build tree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
build=${BUILD_DIR:-build}
jobs=$(nproc)

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWITCHBOARD_WERROR=ON
cmake --build "$build" -j"$jobs"
# --no-tests=error: a run that finds no test is a failure, not a green CI.
ctest --test-dir "$build" --output-on-failure -j"$jobs" --timeout 300 --no-tests=error
