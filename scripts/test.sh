#!/usr/bin/env bash
# The test command: installs what is missing, then builds and runs the whole
# test suite three ways, each in its own build tree:
#   release  GCC, RelWithDebInfo, warnings as errors     $BUILD_DIR (default build/)
#   asan     clang 14, ASan + UBSan; then every fuzz      ${BUILD_DIR}-asan/
#            target runs as libFuzzer for FUZZ_SECONDS
#   tsan     clang 14, TSan                               ${BUILD_DIR}-tsan/
# SANITIZERS=none|asan|tsan|all (default all; "asan,tsan" works too) picks the
# sanitizer runs; the release run always comes first. FUZZ_SECONDS (default 30)
# per fuzz target, 0 for none. CI runs everything (.ci/run).
#
# A sanitizer run fails on any report, also from the servers the black-box
# tests start: every process writes its reports into a directory made fresh
# for the run (log_path), and after ctest any report there fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
build=${BUILD_DIR:-build}
jobs=$(nproc)
fuzz_seconds=${FUZZ_SECONDS:-30}
case ${SANITIZERS:-all} in
  all) sanitizers=(asan tsan) ;;
  none) sanitizers=() ;;
  *) IFS=, read -r -a sanitizers <<<"$SANITIZERS" ;;
esac
for s in "${sanitizers[@]}"; do
  [[ $s == asan || $s == tsan ]] || { echo "test.sh: SANITIZERS: '$s' is not none, asan, tsan or all" >&2; exit 2; }
done
symbolizer=/usr/lib/llvm-14/bin/llvm-symbolizer  # file:line in reports

timings=()
# Runs "$@" as a named phase and notes how long it took.
phase() {
  local name=$1 start=$SECONDS rc=0
  shift
  echo "== $name"
  "$@" || rc=$?
  local line
  line=$(printf '%-22s %4d s' "$name" $((SECONDS - start)))
  if ((rc)); then line+="  FAILED"; fi
  timings+=("$line")
  return "$rc"
}
# $1 as an absolute path: each test runs in a directory of its own.
absolute() { if [[ $1 == /* ]]; then echo "$1"; else echo "$PWD/$1"; fi; }
print_timings() {
  ((${#timings[@]})) || return 0
  echo "== time per phase"
  printf '   %s\n' "${timings[@]}"
}
trap print_timings EXIT

configure_and_build() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWITCHBOARD_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
}

run_ctest() {
  # --no-tests=error: a run that finds no test is a failure, not a green CI.
  ctest --test-dir "$1" --output-on-failure -j"$jobs" --timeout 300 --no-tests=error
}

# Prints every report file under $1; fails if one holds more than notices.
check_reports() {
  local dir=$1 found=0 f
  for f in "$dir"/*; do
    [[ -e $f ]] || continue
    echo "---- sanitizer report $f"
    cat "$f"
    # LeakSanitizer's note when a thread was exiting as the leak check stopped
    # the process: it scans that thread's stack without its registers and
    # reports a leak, if any, as a report of its own. Not a finding by itself.
    if grep -qvE '^==[0-9]+==Unable to get registers from thread [0-9]+\.$' "$f"; then
      found=1
    fi
  done
  if ((found)); then
    echo "test.sh: sanitizer reports in $dir" >&2
    return 1
  fi
}

# The sanitizer options for a run whose reports go to $1.
sanitizer_env() {
  local reports=$1
  # ASan and UBSan share one runtime and one log_path in the asan build.
  export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:log_path=$reports/report:external_symbolizer_path=$symbolizer"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/report:external_symbolizer_path=$symbolizer"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$reports/report:external_symbolizer_path=$symbolizer:suppressions=$PWD/tests/tsan.supp"
}

# ctest with the sanitizer options; reports from any process fail the run.
sanitized_ctest() {
  local dir=$1 kind=$2 reports rc=0
  reports="$(absolute "$1")/sanitizer-reports"
  rm -rf "$reports"
  mkdir -p "$reports"
  (
    sanitizer_env "$reports"
    export SWITCHBOARD_SANITIZE=$kind  # tests loosen their timing bounds
    run_ctest "$dir"
  ) || rc=$?
  check_reports "$reports" || rc=1
  return "$rc"
}

# One fuzz target for fuzz_seconds: new inputs go to a scratch corpus next
# to the build, a crash (or a hang: -timeout) is kept in fuzz-artifacts/.
fuzz_one() {
  local exe=$1 dir name=${1##*/fuzz_}
  dir=$(absolute "$2")
  mkdir -p "$dir/fuzz-corpus/$name" "$dir/fuzz-artifacts"
  sanitizer_env "$dir/fuzz-reports"
  "$exe" "$dir/fuzz-corpus/$name" "tests/fuzz/corpus/$name" -max_total_time="$fuzz_seconds" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/fuzz-artifacts/$name-" >"$dir/fuzz-$name.log" 2>&1
}

# Every fuzz target, two at a time (one core each).
fuzz() {
  local dir=$1 rc=0 i j exes pids name
  rm -rf "$dir/fuzz-reports" "$dir/fuzz-artifacts"
  mkdir -p "$dir/fuzz-reports"
  exes=("$dir"/tests/fuzz/fuzz_*)
  for ((i = 0; i < ${#exes[@]}; i += 2)); do
    pids=()
    for ((j = i; j < i + 2 && j < ${#exes[@]}; ++j)); do
      fuzz_one "${exes[$j]}" "$dir" &
      pids+=($!)
    done
    for ((j = 0; j < ${#pids[@]}; ++j)); do
      name=${exes[$((i + j))]##*/fuzz_}
      if ! wait "${pids[$j]}"; then
        echo "test.sh: fuzz target $name failed (inputs in $dir/fuzz-artifacts):" >&2
        tail -n 60 "$dir/fuzz-$name.log" >&2
        rc=1
      fi
      grep -hE '^#[0-9]+[[:space:]]+DONE' "$dir/fuzz-$name.log" | sed "s/^/   $name: /"
    done
  done
  check_reports "$dir/fuzz-reports" || rc=1
  return "$rc"
}

phase "release: build" configure_and_build "$build"
phase "release: test" run_ctest "$build"

# Bench has no tests: the sanitizer builds skip it.
clang_args=(-DCMAKE_CXX_COMPILER=clang++ -DSWITCHBOARD_BUILD_BENCH=OFF)
for s in "${sanitizers[@]}"; do
  case $s in
    asan)
      phase "asan: build" configure_and_build "$build-asan" "${clang_args[@]}" \
        -DSWITCHBOARD_SANITIZE=address,undefined
      phase "asan: test" sanitized_ctest "$build-asan" address
      if ((fuzz_seconds > 0)); then phase "asan: fuzz" fuzz "$build-asan"; fi
      ;;
    tsan)
      phase "tsan: build" configure_and_build "$build-tsan" "${clang_args[@]}" \
        -DSWITCHBOARD_SANITIZE=thread
      phase "tsan: test" sanitized_ctest "$build-tsan" thread
      ;;
  esac
done
