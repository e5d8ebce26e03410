#!/usr/bin/env bash
# The main job: the policy comparison under load. Installs what is missing,
# builds, then runs bench/compare.py: echo_server under every policy plus the
# epoll and Python references, over the workload matrix, on loopback. Writes
# results/<date>/ (report.md, raw.json, PNG plots) and prints the report.
#
# Defaults to a short run (about two minutes: one run of 1 s per cell, 1,000
# idle connections in the C10K case); FULL=1 runs the full one (3 repeats of
# 5 s per cell, 10,000 idle connections). Extra arguments go to bench/compare.py
# (e.g. --servers pool,epoll --cases tcp-64B-c16).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=${BUILD_DIR:-build}
scripts/setup.sh gnuplot-nox
# The same configuration as scripts/test.sh, so the two share one build tree.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWITCHBOARD_WERROR=ON >/dev/null
cmake --build "$build" --target echo_server epoll_echo asio_echo loadgen -j"$(nproc)"

if [[ ${FULL:-0} == 1 ]]; then
  length=(--repeats 3 --duration 5 --warmup 1 --idle-conns 10000)
else
  length=(--repeats 1 --duration 1 --warmup 0.3 --idle-conns 1000)
fi
exec python3 bench/compare.py --build "$build" "${length[@]}" "$@"
