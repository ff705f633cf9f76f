#!/usr/bin/env bash
# Creates (or reuses) a virtual environment with torch and ai3 built from this
# checkout. Usage: scripts/setup-venv.sh [extra...]   (e.g. test, bench, sycl)
# Environment: PYTHON (default python3), AI3_VENV (default .venv), AI3_SYCL /
# AI3_CUDA / AI3_APPLE (backend switches passed to CMake), AI3_BUILD_CPP_TESTS=1
# (the same build also compiles the C++ tests, kept in $AI3_CPP_TESTS_BUILD, default
# build/pip-with-cpp-tests, for scripts/cpp-tests.sh: one build of the project, not two).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${AI3_VENV:-.venv}
extras=$(IFS=,; echo "$*")
extras=${extras// /}

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip "$@"; }
pip install -q --upgrade pip
# A venv that already has torch and torchvision keeps them (AI3_VENV=/path/to/your/venv
# saves the ~7 GB download of PyPI's CUDA-enabled Linux torch); a new one gets the pinned pair.
if "$VENV/bin/python" -c "import torch, torchvision" >/dev/null 2>&1; then
  echo "== using the venv's torch $("$VENV/bin/python" -c "import torch; print(torch.__version__)"); installing build tools"
  pip install -q -r requirements/build.txt
else
  echo "== installing torch, torchvision (about 7 GB on Linux: PyPI's torch is the CUDA build) and build tools"
  pip install -q -r requirements/torch.txt -r requirements/build.txt
fi
# The sycl extra's runtime must be there before the build: CMake looks for its headers.
if [[ ",$extras," == *",sycl,"* ]]; then
  echo "== installing the SYCL runtime (dpctl, intel-sycl-rt, intel-opencl-rt)"
  pip install -q -r requirements/sycl.txt
fi
build_args=()
if [ "${AI3_BUILD_CPP_TESTS:-0}" = 1 ]; then
  build_args=(-C cmake.define.AI3_BUILD_CPP_TESTS=ON -C "build-dir=${AI3_CPP_TESTS_BUILD:-build/pip-with-cpp-tests}")
fi
echo "== building ai3 from source (C++ core, CPU kernels, and the SYCL/CUDA backends this machine can build)"
mkdir -p build
log=build/pip-build.log
t0=$(date +%s)
# pip's verbose output is the CMake/ninja log: kept in $log, shown as a progress line every
# 10% of the compile steps; on failure its tail is printed.
if ! pip install -v --no-build-isolation "${build_args[@]}" ".${extras:+[$extras]}" 2>&1 | tee "$log" | awk '
    /^[ \t]*-- ai3 backends:/ { sub(/^[ \t]*-- /, ""); print "   " $0; fflush() }
    match($0, /^[ \t]*\[[0-9]+\/[0-9]+\]/) {
      s = substr($0, RSTART, RLENGTH); sub(/^[ \t]*\[/, "", s); sub(/\]$/, "", s); split(s, f, "/")
      step = int(10 * f[1] / f[2])
      if (step > last) { last = step; printf "   compiled %d of %d steps (%d%%)\n", f[1], f[2], 10 * step; fflush() }
    }'; then
  echo "== the build failed; the end of $log:" >&2
  tail -40 "$log" >&2
  exit 1
fi
echo "== built and installed in $(( $(date +%s) - t0 )) s (full log: $log)"
"$VENV/bin/python" -m ai3 info --short
