"""ai3: fine-grained algorithmic control over an existing PyTorch network.

``swap_conv2d`` swaps a model's convolutions in place for ai3 implementations of
the chosen algorithms (the model still trains and compiles); ``swap_backend``
turns a whole model into an :class:`ai3.Model` that ai3 runs alone.
"""

from __future__ import annotations

import sys as _sys
import types as _types
from typing import Optional

import torch as _torch

from . import _config, _sycl_backend

# Before anything can query SYCL platforms: make the OpenCL CPU device visible and
# keep compiled SYCL kernels on disk (see ai3._sycl_backend.prepare_environment).
_sycl_backend.prepare_environment()

from . import _core, errors, layers
from . import ops as _ops  # noqa: F401  (registers the torch.library operators)
from .algorithms import SUPPORTED_ALGORITHMS
from .devices import Device, backend_status, devices
from .errors import (
    Ai3Error,
    BackendError,
    DeviceError,
    DTypeError,
    InvalidInputError,
    SelectorError,
    UnknownAlgorithmError,
    UnsupportedError,
)
from .model import Model
from .onnx_export import export_onnx, onnx_translation_table, register_torchscript_symbolic
from .selectors import AlgorithmicSelector
from .swap import Conv2d, swap_backend, swap_conv2d
from .tensor import Tensor
from .tuning import calibrate, tune
from .warmup import warmup

__version__: str = _core.build_info()["version"]

# torch.onnx.export(dynamo=False) writes ai3::conv2d as a standard Conv (see ai3.onnx_export).
register_torchscript_symbolic()


class _Package(_types.ModuleType):
    """``ai3`` itself: ``ai3.FROM_BACKEND`` lives in :mod:`ai3._config`, so the modules
    that read it need not import the package (no import circle)."""

    @property
    def FROM_BACKEND(self) -> Optional[str]:
        """The backend of the existing DNN. If None, the backend will be inferred from the
        type of the input to the swapping functions. Only None and "torch" are valid."""
        return _config.FROM_BACKEND

    @FROM_BACKEND.setter
    def FROM_BACKEND(self, value: Optional[str]) -> None:
        _config.FROM_BACKEND = value


_sys.modules[__name__].__class__ = _Package


def using_sycl() -> bool:
    """Whether the implementations can use SYCL (built with SYCL and a SYCL device is usable)."""
    return any(d.backend == "sycl" for d in devices())


def using_cudnn() -> bool:
    """Whether the implementations can use cuDNN (built with it and a CUDA GPU is usable)."""
    return any(d.backend == "cuda" for d in devices())


def using_cublas() -> bool:
    """Whether the implementations can use cuBLAS (built with it and a CUDA GPU is usable)."""
    return any(d.backend == "cuda" for d in devices())


def using_mps_and_metal() -> bool:
    """Whether the implementations can use MPS and Metal (Apple backend built, on macOS)."""
    return any(d.backend == "apple" for d in devices())


def set_num_threads(n: int) -> None:
    """Set the number of CPU threads ai3's kernels use (``n <= 0``: all hardware threads)."""
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """The number of CPU threads ai3's kernels use (by default, ``torch.get_num_threads()``)."""
    return int(_core.get_num_threads())


# Share the cores with torch instead of competing with it.
_core.set_num_threads(_torch.get_num_threads())
# Winners measured by ai3.tune in earlier processes (this CPU's instruction set).
from .tuning import load_cache as _load_tuned
from .tuning import load_constants as _load_constants

_load_tuned()
_load_constants()

__all__ = [
    "swap_conv2d",
    "swap_backend",
    "tune",
    "calibrate",
    "warmup",
    "Model",
    "Tensor",
    "Conv2d",
    "export_onnx",
    "onnx_translation_table",
    "AlgorithmicSelector",
    "SUPPORTED_ALGORITHMS",
    "FROM_BACKEND",
    "using_sycl",
    "using_cudnn",
    "using_cublas",
    "using_mps_and_metal",
    "devices",
    "Device",
    "backend_status",
    "set_num_threads",
    "get_num_threads",
    "layers",
    "errors",
    "Ai3Error",
    "InvalidInputError",
    "UnknownAlgorithmError",
    "SelectorError",
    "DTypeError",
    "UnsupportedError",
    "DeviceError",
    "BackendError",
]
