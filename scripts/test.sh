#!/usr/bin/env bash
# The full test suite: builds ai3 into a venv, runs the C++ kernel tests and pytest.
# Exit status is pytest's, except that "no tests ran" (pytest's 5) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
# The SYCL runtime's wheels exist for Linux x86_64: there the suite also runs on opencl:cpu.
extras="test"
if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] && [ "${AI3_TEST_SYCL:-1}" != "0" ]; then
  extras="test sycl"
fi
bash scripts/setup-venv.sh $extras || exit 1
PYBIN="${AI3_VENV:-.venv}/bin/python"

echo "== C++ kernel tests"
bash scripts/cpp-tests.sh "$PYBIN" || exit 1

echo "== pytest"
"$PYBIN" -m pytest tests -q -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
