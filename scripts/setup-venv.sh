#!/usr/bin/env bash
# Creates (or reuses) a virtual environment with torch and ai3 built from this
# checkout. Usage: scripts/setup-venv.sh [extra...]   (e.g. test, bench, sycl)
# Environment: PYTHON (default python3), AI3_VENV (default .venv), AI3_SYCL /
# AI3_CUDA / AI3_APPLE (backend switches passed to CMake).
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
echo "== installing torch and build tools"
pip install -q -r requirements/torch.txt -r requirements/build.txt
# The sycl extra's runtime must be there before the build: CMake looks for its headers.
if [[ ",$extras," == *",sycl,"* ]]; then
  echo "== installing the SYCL runtime (dpctl, intel-sycl-rt, intel-opencl-rt)"
  pip install -q -r requirements/sycl.txt
fi
echo "== building ai3 from source"
pip install -q --no-build-isolation ".${extras:+[$extras]}"
"$VENV/bin/python" -m ai3 info
