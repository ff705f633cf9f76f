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
bash scripts/setup-venv.sh "${AI3_EXTRAS:-$extras}" || exit 1
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
