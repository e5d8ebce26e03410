#!/usr/bin/env bash
# Installs the Debian packages the build needs, and only those that are
# missing: silent when everything is present, one line per package installed.
# Arguments name extra packages (scripts/compare.sh adds gnuplot-nox for plots).
set -euo pipefail

packages=(
  build-essential         # g++ 12 and make
  cmake                   # >= 3.25 (bookworm has 3.25.1)
  ninja-build             # the generator scripts/test.sh uses
  libasio-dev             # standalone Asio, header-only
  libconcurrentqueue-dev  # moodycamel ConcurrentQueue, header-only
  libcli11-dev            # command-line flags of the samples and bench
  libgtest-dev            # GoogleTest (pulls in the googletest sources)
  libbenchmark-dev        # Google Benchmark, for bench/
  libsystemd-dev          # socket activation and sd_notify (switchboard/systemd.hpp)
  systemd                 # systemd-socket-activate, the tests' socket-activation peer
  python3                 # bench/compare.py, the comparison runner and its Python reference
  clang                   # clang 14: the sanitizer builds of scripts/test.sh
  libclang-rt-14-dev      # the ASan, UBSan, TSan and libFuzzer runtimes
  llvm-14                 # llvm-symbolizer: sanitizer reports with file:line
)
packages+=("$@")

missing=()
for pkg in "${packages[@]}"; do
  # "ii " is dpkg's "installed and configured"; anything else needs apt.
  if [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" != "ii " ]]; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]} == 0)); then exit 0; fi

sudo=()
((EUID == 0)) || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# apt's output goes to a log that is shown only when something fails.
if ! { "${sudo[@]}" apt-get update -q &&
       "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1 </dev/null; then
  cat "$log" >&2
  echo "setup.sh: apt-get failed installing: ${missing[*]}" >&2
  exit 1
fi
for pkg in "${missing[@]}"; do echo "setup.sh: installed $pkg"; done
