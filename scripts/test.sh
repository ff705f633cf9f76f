#!/usr/bin/env bash
# The full test suite: builds ai3 into a venv, runs the C++ kernel tests and pytest.
# Exit status is pytest's, except that "no tests ran" (pytest's 5) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# AI3_EXTRAS overrides the extras; by default the SYCL runtime's wheels (Linux
# x86_64 only) come too, so the suite also runs on opencl:cpu there.
extras="test"
if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] && [ "${AI3_TEST_SYCL:-1}" != "0" ]; then
  extras="test,sycl"
fi
# One build: the pip build compiles the C++ tests too (AI3_BUILD_CPP_TESTS), and ctest
# runs them in its build tree. One tree per backend configuration: a tree configured
# with a backend and then without it keeps that backend's stale tests.
t0=$(date +%s)
export AI3_CPP_TESTS_BUILD="build/pip-tests-sycl-${AI3_SYCL:-AUTO}-cuda-${AI3_CUDA:-AUTO}-apple-${AI3_APPLE:-AUTO}"
AI3_BUILD_CPP_TESTS=1 bash scripts/setup-venv.sh "${AI3_EXTRAS:-$extras}" || exit 1
PYBIN="${AI3_VENV:-.venv}/bin/python"

echo "== C++ kernel tests (ctest in the pip build's tree, $AI3_CPP_TESTS_BUILD)"
bash scripts/cpp-tests.sh "$PYBIN" || exit 1

echo "== pytest (the whole suite takes about 5 minutes on 2 cores)"
"$PYBIN" -m pytest tests -q -p no:cacheprovider "$@"
rc=$?
echo "== scripts/test.sh finished in $(( $(date +%s) - t0 )) s"
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
