"""``ai3.Tensor``: the C++ core's tensor, exposed through the buffer protocol.

The class is ``ai3._core.Tensor`` itself (so ``memoryview(t)`` works on every
Python version); this module adds the published conversion methods to it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from .errors import DTypeError

Tensor = _core.Tensor


def _numpy(self: Tensor) -> np.ndarray:
    """This tensor as a ``numpy.ndarray`` sharing its memory (no copy)."""
    return np.asarray(self)


def _torch(self: Tensor) -> Any:
    """This tensor as a ``torch.Tensor`` sharing its memory (no copy)."""
    import torch

    return torch.from_numpy(np.asarray(self))


def _to(self: Tensor, out_type: Any) -> Any:
    """Convert to ``out_type``: ``torch.Tensor``, ``numpy.ndarray`` or ``ai3.Tensor``.

    The result shares this tensor's memory.
    """
    import torch

    if out_type is None or out_type is Tensor:
        return self
    if out_type is torch.Tensor or out_type == "torch":
        return _torch(self)
    if out_type is np.ndarray or out_type == "numpy":
        return _numpy(self)
    raise DTypeError(
        f"ai3.Tensor.to() converts to torch.Tensor, numpy.ndarray or ai3.Tensor, got {out_type!r}"
    )


def _repr(self: Tensor) -> str:
    return f"ai3.Tensor(shape={tuple(self.shape)}, dtype={self.dtype})"


# The extension's Tensor gets its torch/numpy conversions here (the extension does not link
# torch); the stub declares them.
Tensor.numpy = _numpy  # type: ignore[method-assign]
Tensor.torch = _torch  # type: ignore[method-assign]
Tensor.to = _to  # type: ignore[method-assign]
Tensor.__repr__ = _repr  # type: ignore[method-assign, assignment]
Tensor.__module__ = "ai3"
