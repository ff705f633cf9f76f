"""pytest configuration for ai3's Python tests.

Run against the installed package (``pip install --no-build-isolation .``), e.g.
``cd /work/main && python -m pytest tests -q``: ``python/ai3`` is the source
directory and is not importable from the repository root.
"""

from __future__ import annotations

import atexit
import collections
import os
import shutil
import sys
import tempfile

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))  # `import helpers` from every test module

# Before ai3 is imported (it loads tuned winners and cost constants at import): tests
# never read or write the user's ~/.cache/ai3, whose measured winners would change what
# `default` runs. Subprocesses started by tests inherit it.
os.environ["AI3_CACHE_DIR"] = _cache = tempfile.mkdtemp(prefix="ai3-tests-cache-")
atexit.register(shutil.rmtree, _cache, ignore_errors=True)

from hypothesis import settings  # noqa: E402

import ai3  # noqa: E402

import helpers  # noqa: E402

settings.register_profile("ai3", max_examples=60, deadline=None, derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ai3"))


def pytest_report_header(config):
    return [f"ai3 {ai3.__version__} from {os.path.dirname(ai3.__file__)}; devices: {helpers.device_names()}",
            f"torch {torch.__version__}, threads {torch.get_num_threads()}"]


def pytest_terminal_summary(terminalreporter):
    """One line per skip reason with its count (pytest's own -rs lists a reason once per
    test location, so a missing GPU repeated itself dozens of times)."""
    reasons: collections.Counter = collections.Counter()
    for rep in terminalreporter.stats.get("skipped", []):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        reasons[reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason] += 1
    if reasons:
        terminalreporter.section("skipped tests, by reason")
        for reason, n in reasons.most_common():
            terminalreporter.write_line(f"{n:6d}  {reason}")


@pytest.fixture(params=helpers.device_names())
def device(request) -> str:
    """Each device this build of ai3 can use (from ai3.devices(); never assumes a GPU)."""
    return request.param


@pytest.fixture(autouse=True)
def _isolation(monkeypatch):
    """Deterministic inputs, and no test leaks a changed ai3.FROM_BACKEND or AI3_DEVICE."""
    torch.manual_seed(0)
    monkeypatch.setattr(ai3, "FROM_BACKEND", None)
    monkeypatch.delenv("AI3_DEVICE", raising=False)
    yield


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A tuning cache of the test's own; forgets what it tuned afterwards."""
    monkeypatch.setenv("AI3_CACHE_DIR", str(tmp_path))
    yield tmp_path
    ai3._core.clear_tuned()
    ai3.tuning._forget_resolutions(None)
