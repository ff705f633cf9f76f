#!/usr/bin/env bash
# The GPU check of ai3's CUDA backend in one go, for a machine with an NVIDIA GPU, nvcc,
# CMake and a Python whose torch sees the GPU (no internet needed: the build uses the
# installed pybind11, scikit-build-core and NVIDIA cuDNN/cuBLAS wheels):
#   1. builds and installs ai3 with the CUDA backend required (AI3_CUDA=ON),
#   2. runs tests/test_cuda.py, whose GPU tests skip nowhere a GPU is usable (every op x
#      dtype of the graph form and the issue-7 networks against torch on the GPU),
#   3. runs benchmarks/cuda_models.py: swap_backend on "cuda" vs torch eager, accuracy
#      and latency (resnet50, mobilenet_v2, vgg16 at batch 1),
#   4. where compute-sanitizer is installed (AI3_CHECK_SANITIZE=0 skips it): the float32
#      graph-op tests under memcheck (out-of-bounds and misaligned accesses) and the
#      shared-memory kernels (mean, layernorm, tiled permute) under racecheck.
# Logs and the benchmark's JSON go to $OUT (or /tmp/ai3-cuda-check). Exit status: 0 when all
# pass, else the first failing step's number (1 also when no GPU is usable).
#
#   bash benchmarks/cuda_check.sh                      # everything
#   bash benchmarks/cuda_check.sh -k "graph or swap"   # extra arguments go to pytest
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=${OUT:-/tmp/ai3-cuda-check}
mkdir -p "$out"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi failed"
  "$PY" -c "import sys, torch; print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda, '| gpu', torch.cuda.is_available())"
} 2>&1 | tee "$out/env.txt"

echo "== 1. build (AI3_CUDA=ON)"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
if ! AI3_CUDA=ON AI3_SYCL=OFF AI3_APPLE=OFF "$PY" -m pip install --no-build-isolation --no-deps -v . \
    >"$out/build.log" 2>&1; then
  tail -40 "$out/build.log"
  echo "build failed: see $out/build.log" >&2
  exit 1
fi
(cd / && "$PY" -c "
import ai3
from ai3.devices import cuda_unusable_reason
print('cuda backend:', ai3.backend_status()['cuda'])
why = cuda_unusable_reason()
print('cuda usable:', not why, why)
raise SystemExit(1 if why else 0)
") 2>&1 | tee -a "$out/env.txt" || exit 1

echo "== 2. tests/test_cuda.py"
"$PY" -m pytest tests/test_cuda.py -q -p no:cacheprovider -ra "$@" 2>&1 | tee "$out/test_cuda.log"
tests_rc=${PIPESTATUS[0]}

echo "== 3. benchmarks/cuda_models.py"
"$PY" benchmarks/cuda_models.py --json "$out/cuda_models.json" 2>&1 | tee "$out/cuda_models.log"
bench_rc=${PIPESTATUS[0]}

san_rc=0
san=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
if [ "${AI3_CHECK_SANITIZE:-1}" != "0" ] && [ -n "$san" ]; then
  echo "== 4. compute-sanitizer (memcheck, racecheck) on the graph-op tests"
  for tool in memcheck racecheck; do
    sel="graph_op_on and float32"
    [ "$tool" = racecheck ] && sel="graph_op_on and float32 and (mean or layernorm or permute)"
    "$san" --tool "$tool" --target-processes all --error-exitcode 9 \
      "$PY" -m pytest tests/test_cuda.py -q -p no:cacheprovider -x -k "$sel" >"$out/sanitizer-$tool.log" 2>&1
    rc=$?
    tail -5 "$out/sanitizer-$tool.log"
    [ "$rc" -eq 0 ] || { san_rc=$rc; echo "compute-sanitizer $tool: exit $rc (see $out/sanitizer-$tool.log)"; }
  done
else
  echo "== 4. compute-sanitizer skipped (${san:-not installed})"
fi

echo "== tests exit $tests_rc, models check exit $bench_rc, sanitizer exit $san_rc; logs in $out"
[ "$tests_rc" -eq 0 ] || exit 2
[ "$bench_rc" -eq 0 ] || exit 3
[ "$san_rc" -eq 0 ] || exit 4
