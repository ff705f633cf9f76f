"""Shared helpers for ai3's Python test suite.

* ONE tolerance policy for the whole suite (docs/architecture.md, "Contracts"):
  a single layer float32 ``atol=rtol=1e-4``, float64 ``1e-10``; a whole network:
  ``max|ai3 - torch| / max|torch|`` below ``1e-4`` (float32; ``1e-10`` float64).
* ``forbid_torch_ops``: a ``TorchDispatchMode`` that fails if given aten ops run,
  proving that ai3, not torch, did the work.
* The algorithm lists this build implements (update when kernels land).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterable, Iterator, List, Optional, Set, Tuple

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import ai3

# ---- algorithms ----------------------------------------------------------------------

#: conv2d algorithms every build must have on the CPU (the baseline; a missing one is a regression).
CONV_BASELINE = ("direct", "smm", "gemm")
#: conv2d algorithms that only the Apple backend runs.
CONV_APPLE = ("mps", "metal")
#: conv2d names that choose a concrete algorithm per layer and shape.
CONV_META = ("guess", "default")


def registered_conv_algorithms(backend: str = "cpu") -> Tuple[str, ...]:
    """The concrete conv2d algorithms this build has kernels for on ``backend`` (both dtypes), in the
    published order. Kernels land while the suite is maintained, so the grid follows the registry;
    test_conv2d.test_registry_* pin down what it must contain."""
    entries = {(a, d) for op, a, b, d in ai3._core.registry_entries() if op == "conv2d" and b == backend}
    return tuple(a for a in ai3.SUPPORTED_ALGORITHMS["conv2d"]
                 if (a, "float32") in entries and (a, "float64") in entries)


#: conv2d algorithms with a CPU kernel in this build (parametrises the conv tests).
CONV_IMPLEMENTED = registered_conv_algorithms("cpu")
#: conv2d algorithms named by the API without a kernel in this build: they must raise
#: ai3.UnsupportedError naming op/algorithm/backend/dtype when run (never run another algorithm).
CONV_NOT_YET = tuple(a for a in ai3.SUPPORTED_ALGORITHMS["conv2d"]
                     if a not in CONV_IMPLEMENTED + CONV_META + CONV_APPLE)


def _pair(v: Any) -> Tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_refuses(algo: str, conv: torch.nn.Conv2d) -> bool:
    """Whether the refusal rule (docs/architecture.md) allows ``algo`` to refuse this conv: only 'winograd' outside
    3x3 / stride 1 / dilation 1 (everything else must handle every nn.Conv2d)."""
    if algo != "winograd":
        return False
    return not (_pair(conv.kernel_size) == (3, 3) and _pair(conv.stride) == (1, 1) and _pair(conv.dilation) == (1, 1))


def eligible(algo: str, fallback: str = "direct"):
    """A selector giving ``algo`` to every conv that may not refuse it, ``fallback`` to the others."""
    return lambda module: fallback if conv_refuses(algo, module) else algo


DTYPES = (torch.float32, torch.float64)


def dtype_id(dt: Any) -> str:
    return str(dt).replace("torch.", "")


# ---- tolerances ----------------------------------------------------------------------

LAYER_TOL = {torch.float32: 1e-4, torch.float64: 1e-10}
NETWORK_TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


def _as_torch(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, ai3.Tensor):
        return torch.from_numpy(np.array(x, copy=True))
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.array(x, copy=True))
    raise AssertionError(f"not a tensor: {type(x).__name__}")


def _dtype_of(actual: torch.Tensor, expected: torch.Tensor, dtype: Optional[torch.dtype]) -> torch.dtype:
    if dtype is not None:
        return dtype
    assert actual.dtype == expected.dtype, f"dtype differs: ai3 {actual.dtype}, torch {expected.dtype}"
    assert expected.dtype in LAYER_TOL, f"no tolerance for {expected.dtype}"
    return expected.dtype


def assert_layer_close(actual: Any, expected: Any, dtype: Optional[torch.dtype] = None, msg: str = "") -> None:
    """A single layer's output against torch's: f32 atol=rtol=1e-4, f64 1e-10; same shape and dtype."""
    a, e = _as_torch(actual), _as_torch(expected)
    dt = _dtype_of(a, e, dtype)
    assert tuple(a.shape) == tuple(e.shape), f"shape differs: ai3 {tuple(a.shape)}, torch {tuple(e.shape)} {msg}"
    tol = LAYER_TOL[dt]
    torch.testing.assert_close(a, e, atol=tol, rtol=tol, msg=lambda m: f"{m}\n{msg}")


def assert_network_close(actual: Any, expected: Any, dtype: Optional[torch.dtype] = None, msg: str = "") -> None:
    """A whole network's output against torch's: max abs error / max abs output below 1e-4 (f32)."""
    a, e = _as_torch(actual), _as_torch(expected)
    dt = _dtype_of(a, e, dtype)
    assert tuple(a.shape) == tuple(e.shape), f"shape differs: ai3 {tuple(a.shape)}, torch {tuple(e.shape)} {msg}"
    assert torch.isfinite(a).all(), f"ai3 output has non-finite values {msg}"
    scale = e.abs().max().item()
    assert scale > 0, "degenerate reference: torch's output is all zeros"
    rel = (a.to(torch.float64) - e.to(torch.float64)).abs().max().item() / scale
    assert rel < NETWORK_TOL[dt], f"max abs error / max abs output = {rel:.3e} >= {NETWORK_TOL[dt]:.0e} {msg}"


# ---- proving ai3 did the work ------------------------------------------------------------

#: aten convolution entry points (what F.conv2d / nn.Conv2d reach, incl. mkldnn).
CONV_ATEN = (
    "aten::convolution",
    "aten::_convolution",
    "aten::conv2d",
    "aten::mkldnn_convolution",
    "aten::_mkldnn_convolution",
    "aten::convolution_overrideable",
    "aten::_slow_conv2d_forward",
    "aten::thnn_conv2d",
    "aten::slow_conv_dilated2d",
    "aten::_nnpack_spatial_convolution",
    "aten::conv_depthwise2d",
    "aten::_conv_depthwise2d",
)
#: everything an ai3.Model replaces.
MODEL_ATEN = CONV_ATEN + (
    "aten::addmm",
    "aten::mm",
    "aten::bmm",
    "aten::matmul",
    "aten::linear",
    "aten::max_pool2d",
    "aten::max_pool2d_with_indices",
    "aten::mkldnn_max_pool2d",
    "aten::avg_pool2d",
    "aten::adaptive_avg_pool2d",
    "aten::_adaptive_avg_pool2d",
    "aten::mean",
    "aten::relu",
    "aten::relu_",
    "aten::clamp_min",
    "aten::threshold",
)


class ForbidTorchOps(TorchDispatchMode):
    """Records every op dispatched while active and fails on forbidden ones."""

    def __init__(self, forbidden: Iterable[str]) -> None:
        super().__init__()
        self.forbidden: Set[str] = set(forbidden)
        self.seen: List[str] = []
        self.violations: List[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name  # e.g. "aten::convolution", "ai3::conv2d"
        self.seen.append(name)
        if name in self.forbidden:
            self.violations.append(name)
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def forbid_torch_ops(forbidden: Iterable[str] = CONV_ATEN, require: Iterable[str] = ()) -> Iterator[ForbidTorchOps]:
    """Fail if any ``forbidden`` aten op runs inside the block (and if a ``require``d op does not)."""
    mode = ForbidTorchOps(forbidden)
    with mode:
        yield mode
    assert not mode.violations, f"torch ran ops that ai3 should have run: {sorted(set(mode.violations))}"
    missing = set(require) - set(mode.seen)
    assert not missing, f"expected ops did not run: {sorted(missing)}; ran: {sorted(set(mode.seen))}"


# ---- misc ----------------------------------------------------------------------------------

def device_names() -> List[str]:
    """The devices this build can run on (never assume a GPU)."""
    return [d.name for d in ai3.devices()]


def sycl_test_device() -> str:
    """The SYCL device the SYCL tests run on: the OpenCL CPU device where there is one."""
    from ai3 import _sycl_backend

    names = [d.name for d in _sycl_backend.sycl_devices()]
    for prefer in ("opencl:cpu", "level_zero:gpu", "opencl:gpu"):
        for n in names:
            if n.startswith(prefer):
                return n
    return names[0] if names else "opencl:cpu"


def sycl_has_fp64(device: str) -> bool:
    from ai3 import _sycl_backend
    from ai3.devices import resolve_device

    return bool(_sycl_backend.info(resolve_device(device)).get("fp64"))


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    return torch.randn(tuple(shape), generator=seeded(seed), dtype=torch.float64).to(dtype)
