#!/usr/bin/env bash
# Runs the C++ tests in tests/cpp with ctest. With AI3_CPP_TESTS_BUILD naming a build
# tree that has them (scripts/test.sh: the pip build made with AI3_BUILD_CPP_TESTS=1),
# it runs them there; otherwise it configures and builds its own tree with the cmake/ninja
# that scripts/setup-venv.sh installed into the venv.
# Usage: scripts/cpp-tests.sh [venv-python]
set -euo pipefail
cd "$(dirname "$0")/.."
PYBIN=${1:-${AI3_VENV:-.venv}/bin/python}
BIN=$(cd "$(dirname "$PYBIN")" && pwd)
PYBIN="$BIN/$(basename "$PYBIN")"
if [ -n "${AI3_CPP_TESTS_BUILD:-}" ] && [ -f "$AI3_CPP_TESTS_BUILD/CTestTestfile.cmake" ]; then
  cd "$AI3_CPP_TESTS_BUILD" && exec "$BIN/ctest" --output-on-failure
fi
mkdir -p build
build=build/cpp-tests
echo "   (configuring and building the C++ tests in $build)"
# The C++ tests cover the core and the CPU kernels; the CUDA module is built (and
# tested) by the pip build, so it is not compiled a second time here.
"$BIN/cmake" -S . -B "$build" -G Ninja -DCMAKE_MAKE_PROGRAM="$BIN/ninja" -DAI3_BUILD_CPP_TESTS=ON -DAI3_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$PYBIN" -Dpybind11_DIR="$("$PYBIN" -m pybind11 --cmakedir)" \
  >"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
"$BIN/cmake" --build "$build" -j 2 >>"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
cd "$build" && "$BIN/ctest" --output-on-failure
