#!/usr/bin/env bash
# Builds and runs the C++ tests in tests/cpp with CMake and ctest, using the
# cmake/ninja that scripts/setup-venv.sh installed into the venv.
# Usage: scripts/cpp-tests.sh [venv-python]
set -euo pipefail
cd "$(dirname "$0")/.."
PYBIN=${1:-${AI3_VENV:-.venv}/bin/python}
BIN=$(cd "$(dirname "$PYBIN")" && pwd)
PYBIN="$BIN/$(basename "$PYBIN")"
mkdir -p build
build=build/cpp-tests
# The C++ tests cover the core and the CPU kernels; the CUDA module is built (and
# tested) by the pip build, so it is not compiled a second time here.
"$BIN/cmake" -S . -B "$build" -G Ninja -DCMAKE_MAKE_PROGRAM="$BIN/ninja" -DAI3_BUILD_CPP_TESTS=ON -DAI3_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$PYBIN" -Dpybind11_DIR="$("$PYBIN" -m pybind11 --cmakedir)" \
  >"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
"$BIN/cmake" --build "$build" -j 2 >>"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
cd "$build" && "$BIN/ctest" --output-on-failure
