#!/usr/bin/env bash
# Runs part of the test suite against ai3 built with a sanitizer.
#
#   scripts/sanitize.sh asan [pytest args...]   AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/sanitize.sh tsan [pytest args...]   ThreadSanitizer (tests/test_threads.py by default)
#
# The extension is built with CMake into build/sanitize-<mode> (the CPU fallback
# alone: the SYCL and CUDA runtimes are not built with the sanitizer, and their
# drivers report their own allocations), next to a copy of the Python package, and
# pytest runs with that copy first on sys.path and the sanitizer runtime preloaded
# (Python itself is not instrumented). Any report fails the run.
# TSan builds use ai3's own thread pool (AI3_OPENMP=OFF): libgomp is not
# instrumented, so TSan cannot see its barriers and would report races that are not.
# Uses the venv scripts/setup-venv.sh made (AI3_VENV, default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
[ $# -gt 0 ] && shift
case "$mode" in
  asan) flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
        runtime=libasan.so; openmp=AUTO
        default_tests=(tests/test_conv2d.py tests/test_fused_swap.py tests/test_swap.py tests/test_training.py
                       tests/test_nonfinite.py tests/test_edge_semantics.py tests/test_saving.py tests/test_ops.py
                       tests/test_graph_ops.py tests/test_layouts.py tests/test_threads.py tests/test_dlpack.py)
        selection=(-k "not opencl and not cuda and not sycl") ;;
  tsan) flags="-fsanitize=thread -fno-omit-frame-pointer"; runtime=libtsan.so; openmp=OFF
        default_tests=(tests/test_threads.py); selection=(-k "not opencl and not cuda") ;;
  *) echo "usage: $0 asan|tsan [pytest args...]" >&2; exit 2 ;;
esac
PYBIN=${AI3_VENV:-.venv}/bin/python
BIN=$(cd "$(dirname "$PYBIN")" && pwd)
PYBIN="$BIN/$(basename "$PYBIN")"
build=build/sanitize-$mode
site=$build/site
start=$(date +%s)
echo "== building ai3 with -fsanitize ($mode) in $build"
mkdir -p "$build"
"$BIN/cmake" -S . -B "$build" -G Ninja -DCMAKE_MAKE_PROGRAM="$BIN/ninja" -DAI3_SYCL=OFF -DAI3_CUDA=OFF \
  -DAI3_APPLE=OFF -DAI3_OPENMP=$openmp -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_SHARED_LINKER_FLAGS="$flags" -DPython_EXECUTABLE="$PYBIN" \
  -Dpybind11_DIR="$("$PYBIN" -m pybind11 --cmakedir)" >"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
"$BIN/cmake" --build "$build" --target _core -j 2 >>"$build.log" 2>&1 || { tail -50 "$build.log"; exit 1; }
rm -rf "$site" && mkdir -p "$site"
cp -r python/ai3 "$site/ai3" && rm -rf "$site/ai3/csrc"
cp "$build"/_core*.so "$site/ai3/"
# Triton (imported by torch.compile's machinery, which torchvision touches) throws C++
# exceptions from a statically linked libstdc++, which ASan's __cxa_throw interceptor
# aborts on. Nothing here needs it: make it unimportable for these runs.
cat >"$site/sitecustomize.py" <<'PY'
import sys

sys.modules["triton"] = None  # import raises ImportError; importlib.util.find_spec says None
PY
echo "== built in $(( $(date +%s) - start )) s"
lib=$(g++ -print-file-name="$runtime")
[ -f "$lib" ] || { echo "no $runtime for this compiler" >&2; exit 1; }
# libstdc++ preloaded with it: Python is C, so otherwise the sanitizer's __cxa_throw
# interceptor finds no real __cxa_throw at start-up and aborts on ai3's first exception.
lib="$lib $(g++ -print-file-name=libstdc++.so.6)"
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=("${default_tests[@]}" "${selection[@]}")
export PYTHONPATH="$PWD/$site${PYTHONPATH:+:$PYTHONPATH}"
# Leaks: CPython and torch keep their allocations until exit by design.
# Reports go to stderr, which pytest captures per test: also to $build/report.* .
rm -f "$build"/report.*
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:log_path=$PWD/$build/report:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$PWD/$build/report:${UBSAN_OPTIONS:-}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:report_signal_unsafe=0:suppressions=$PWD/scripts/tsan.supp:log_path=$PWD/$build/report:${TSAN_OPTIONS:-}"
export AI3_THREAD_ROUNDS=${AI3_THREAD_ROUNDS:-4}
echo "== pytest under $mode: ${tests[*]}"
set +e
LD_PRELOAD="$lib" "$PYBIN" -c "import ai3, sys; assert '$site' in ai3.__file__, ai3.__file__" || exit 1
LD_PRELOAD="$lib" "$PYBIN" -m pytest -q -p no:cacheprovider "${tests[@]}"
rc=$?
set -e
if ls "$build"/report.* >/dev/null 2>&1; then
  echo "== $mode reported:" >&2
  head -60 "$build"/report.* >&2
  rc=1
fi
echo "== $mode finished in $(( $(date +%s) - start )) s with status $rc"
[ "$rc" -eq 5 ] && { echo "no tests ran: failing" >&2; exit 1; }
exit "$rc"
