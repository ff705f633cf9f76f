#!/usr/bin/env bash
# Builds ai3 from this checkout for one accelerator variant and runs the test
# suite. The Dockerfiles run it; it works the same outside Docker.
#
#   docker/build-and-test.sh cpu        fallback + SYCL run-time compiled, on the OpenCL CPU device
#   docker/build-and-test.sh fallback   every optional backend off: the portable C++ fallback alone
#   docker/build-and-test.sh intel      SYCL compiled ahead of time by icpx (oneAPI), CPU and Intel GPUs
#   docker/build-and-test.sh acpp       SYCL compiled ahead of time by AdaptiveCpp
#   docker/build-and-test.sh cuda       cuDNN/cuBLAS (GPU tests run when a GPU is visible)
#   docker/build-and-test.sh cuda-build the CUDA backend compiled and imported, tests without a GPU
#
# Extra arguments go to pytest. AI3_VENV picks the venv (default .venv); the
# variant sets AI3_SYCL/AI3_CUDA/AI3_APPLE for CMake unless already set.
set -euo pipefail
cd "$(dirname "$0")/.."
variant=${1:-}
[ $# -gt 0 ] && shift
# `require`: the backends the variant exists for. The suite fails (tests/test_info.py)
# when one of them did not build or has no usable device, instead of its tests
# skipping wholesale.
case "$variant" in
  cpu)        sycl=AUTO; cuda=OFF; extras=test,sycl; require=sycl ;;
  fallback)   sycl=OFF;  cuda=OFF; extras="test";    require= ;;
  intel)      sycl=AOT;  cuda=OFF; extras="test";    require=sycl ;;
  acpp)       sycl=AOT;  cuda=OFF; extras="test";    require=sycl ;;
  cuda)       sycl=OFF;  cuda=ON;  extras="test";    require=cuda ;;
  cuda-build) sycl=OFF;  cuda=ON;  extras="test";    require="cuda-built" ;;
  *) echo "usage: $0 cpu|fallback|intel|acpp|cuda|cuda-build [pytest args...]" >&2; exit 2 ;;
esac
export AI3_SYCL=${AI3_SYCL:-$sycl} AI3_CUDA=${AI3_CUDA:-$cuda} AI3_APPLE=${AI3_APPLE:-OFF}
export AI3_EXTRAS=${AI3_EXTRAS:-$extras}
# A CUDA backend asked for explicitly (AI3_CUDA=ON) must build in any variant.
if [ "$AI3_CUDA" = ON ]; then
    case ",$require," in *,cuda,*|*,cuda-built,*) ;; *) require="${require:+$require,}cuda-built" ;; esac
fi
export AI3_REQUIRE_BACKENDS=${AI3_REQUIRE_BACKENDS-$require}
echo "== variant $variant: AI3_SYCL=$AI3_SYCL AI3_CUDA=$AI3_CUDA extras=$AI3_EXTRAS required: ${AI3_REQUIRE_BACKENDS:-none}"
if [ "$variant" = cuda-build ]; then
  # No GPU here: prove the backend compiled and imports, then run the CUDA
  # tests, which skip with their reason where no GPU is usable.
  bash scripts/setup-venv.sh "$AI3_EXTRAS"
  py="${AI3_VENV:-.venv}/bin/python"
  "$py" -c "import ai3; s = ai3.devices.backend_status()['cuda']; print('cuda backend:', s); assert s.startswith('built'), s"
  exec "$py" -m pytest tests -q -p no:cacheprovider -k cuda "$@"
fi
exec bash scripts/test.sh "$@"
