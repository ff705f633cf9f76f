"""Threads: one swapped conv and one ai3.Model shared by 8 threads while the conv's weights
change and other threads profile, inspect and re-plan the Model; and the bound on kernels
a layer keeps. Every output must equal one computed alone (no torn state, no deadlock).
.ci/run also runs this file under ThreadSanitizer."""

from __future__ import annotations

import copy
import os
import threading

import pytest
import torch
from torch import nn

import ai3
from ai3 import layers as L

from helpers import device_names

THREADS = 8
ROUNDS = int(os.environ.get("AI3_THREAD_ROUNDS", "12"))


def _run_threads(work, n: int = THREADS, timeout: float = 300.0) -> None:
    errors: list = []
    start = threading.Barrier(n)

    def body(i: int) -> None:
        try:
            start.wait()
            work(i)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread did not finish: deadlock?"
    if errors:
        raise errors[0]


def _swap_algos():
    algos = ["winograd", "direct", "smm", "default"]
    return [a for a in algos if a in ("default",) or a in ai3.tuning.candidate_algorithms("float32")]


@pytest.mark.parametrize("device", device_names()[:2])
@pytest.mark.parametrize("algo", _swap_algos())
def test_one_swapped_conv_many_threads_while_weights_change(algo, device):
    torch.manual_seed(0)
    ref = nn.Conv2d(8, 16, 3, padding=1)
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, algo, device=device)
    wa = m.weight.data.clone()
    wb = torch.randn_like(wa)
    # Both weights stay alive for the whole test: `.data = ` frees the storage it replaces,
    # which a call already running on it would still read (in torch's own conv too).
    m.weight.data = wa
    xs = [torch.randn(2, 8, 12, 12) for _ in range(THREADS)]
    with torch.no_grad():
        want_a = [torch.nn.functional.conv2d(x, wa, m.bias, padding=1) for x in xs]
        want_b = [torch.nn.functional.conv2d(x, wb, m.bias, padding=1) for x in xs]

    def work(i: int) -> None:
        for r in range(ROUNDS):
            if i == 0:  # one thread flips the weights between two tensors (each call sees one)
                m.weight.data = wb if r % 2 == 0 else wa
            with torch.no_grad():
                y = m(xs[i])
            da = (y - want_a[i]).abs().max().item()
            db = (y - want_b[i]).abs().max().item()
            assert min(da, db) < 1e-4, f"thread {i} round {r}: output matches neither weight ({da}, {db})"

    _run_threads(work)


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1)
        self.c3 = nn.Conv2d(16, 16, 1)
        self.fc = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.c1(x))
        y = torch.relu(self.c2(y)) + y
        y = torch.special.erf(self.c3(y))  # no ai3 kernel: runs through torch, taking the GIL inside the graph
        return self.fc(y.mean((2, 3)))


@pytest.mark.parametrize("device", device_names()[:2])
def test_one_model_many_threads_with_profiling_and_replanning(device):
    torch.manual_seed(0)
    net = _Residual().eval()
    model = ai3.swap_backend(net, sample_input_shape=(1, 3, 16, 16), unsupported="torch", device=device)
    assert any(isinstance(layer, L.TorchFunction) for layer in model.layers)
    shapes = [(1, 3, 16, 16), (2, 3, 12, 12)]
    xs = {s: torch.randn(s) for s in shapes}
    want = {s: model(x) for s, x in xs.items()}
    with torch.no_grad():
        for s, x in xs.items():
            torch.testing.assert_close(want[s], net(x), atol=1e-4, rtol=1e-4)

    def work(i: int) -> None:
        for r in range(ROUNDS):
            if i == 0 and r % 3 == 0:
                model._core.clear_cache()  # what tune() does: forget plans and kernels mid-run
            elif i == 1:
                model.profile(xs[shapes[0]], repeats=1, warmup=0)
                model.value_layouts()
            s = shapes[(i + r) % 2]  # two shapes: the graph re-plans between them
            torch.testing.assert_close(model(xs[s]), want[s], atol=0, rtol=0)

    _run_threads(work)


def test_kernel_caches_are_bounded():
    """200 input shapes through one layer keep at most KERNELS_PER_LAYER kernels (least
    recently used go), and the memory they held is given back."""
    limit = ai3._core.KERNELS_PER_LAYER
    ref = nn.Conv2d(8, 16, 3, padding=1)
    layer = L.Conv2D.from_torch(ref, "winograd")

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    shapes = [(1, 8, 8 + i % 20, 8 + i // 20) for i in range(200)]
    for s in shapes[:20]:
        layer(torch.randn(s))
    base = rss()
    for n, s in enumerate(shapes):
        x = torch.randn(s)
        y = layer(x)
        assert layer._core.cached_kernels() <= limit
        if n % 50 == 0:
            with torch.no_grad():
                torch.testing.assert_close(y, ref(x), atol=1e-4, rtol=1e-4)
    assert layer._core.cached_kernels() == limit
    # Unbounded, 200 winograd kernels (each with its transformed filters and tiles) would
    # hold far more than this.
    assert rss() - base < 64 * 2**20
    # The shapes still held are the most recent ones.
    held = {tuple(s) for _, s, _, _ in layer._core.resolutions()}
    assert held == set(shapes[-limit:])
