"""``ai3.warmup``: pay SYCL's first-use kernel compilation ahead of time."""

from __future__ import annotations

import time
from typing import Any, Dict, Optional, Sequence

import torch

from . import _sycl_backend
from ._convert import dtype_name
from .devices import Device, resolve_device
from .errors import InvalidInputError
from .layers import Layer
from .model import Model
from .modules import Conv2d


def _devices_and_dtype(target: Any) -> tuple[list, Optional[str]]:
    if isinstance(target, Model):
        return [target.device], target.dtype
    if isinstance(target, Layer):
        return [], target.dtype
    if isinstance(target, torch.nn.Module):
        devs = [m.ai3_device for m in target.modules() if isinstance(m, Conv2d)]
        p = next(target.parameters(), None)
        return devs, None if p is None else dtype_name(p.dtype, "parameter dtype")
    raise InvalidInputError(f"ai3.warmup takes an ai3.Model, an ai3 layer or a swapped torch module, "
                            f"got {type(target).__name__}")


def warmup(model: Any, sample_shape: Optional[Sequence[int]] = None, *, dtype: Any = None,
           device: Any = None) -> Dict[str, float]:
    """Compile the SYCL kernels ``model`` will use now instead of on its first call.

    The first use of a SYCL device compiles ai3's kernels (about a second per kernel
    bundle, less when libsycl's persistent cache under ai3's cache directory already
    has them). ``model`` is an :class:`ai3.Model`, an ai3 layer or a module swapped by
    :func:`ai3.swap_conv2d`; ``device`` adds a device to compile for. With
    ``sample_shape`` the model also runs once on zeros of that shape, so algorithms
    are resolved and weights uploaded. Returns seconds spent compiling and running.
    CPU-only models return at once.
    """
    devs, dt = _devices_and_dtype(model)
    if device is not None:
        devs.append(resolve_device(device))
    dt = dtype_name(dtype) if dtype is not None else (dt or "float32")
    seen = set()
    compile_s = 0.0
    for d in devs:
        if isinstance(d, Device) and d.backend == "sycl" and d.key not in seen:
            seen.add(d.key)
            compile_s += _sycl_backend.compile_bundles(d, dt)
    forward_s = 0.0
    if sample_shape is not None:
        x = torch.zeros(tuple(int(s) for s in sample_shape), dtype=getattr(torch, dt))
        t0 = time.perf_counter()
        with torch.no_grad():
            model(x)
        forward_s = time.perf_counter() - t0
    return {"compile_seconds": compile_s, "forward_seconds": forward_s}


__all__ = ["warmup"]
