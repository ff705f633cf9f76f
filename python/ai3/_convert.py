"""Conversions between user tensors and what the C++ core takes."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import _core
from .errors import DeviceError, DTypeError, InvalidInputError
from .tensor import Tensor

DTYPES = {"float32": torch.float32, "float64": torch.float64}
_NAMES = {torch.float32: "float32", torch.float64: "float64",
          np.dtype("float32"): "float32", np.dtype("float64"): "float64"}


def dtype_name(dtype: Any, what: str = "dtype") -> str:
    """Normalise a torch/numpy/string dtype to ``"float32"``/``"float64"``, or raise DTypeError."""
    if isinstance(dtype, str):
        if dtype in DTYPES:
            return dtype
    else:
        try:
            key = dtype if isinstance(dtype, torch.dtype) else np.dtype(dtype)
            if key in _NAMES:
                return _NAMES[key]
        except TypeError:
            pass
    raise DTypeError(f"ai3 supports float32 and float64, got {what} {dtype}")


def as_numpy_param(x: Any, dtype: str) -> np.ndarray:
    """A parameter (torch tensor, numpy array, sequence) as a dense numpy array of ``dtype``."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", DTYPES[dtype]).contiguous().numpy()
    return _c_order(np.asarray(x, dtype=dtype))


def _c_order(x: np.ndarray) -> np.ndarray:
    # Not np.ascontiguousarray: it turns 0-d arrays into 1-d ones.
    return x if x.flags.c_contiguous else x.copy(order="C")


def pair(v: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    """torch's ``_pair``: an int or a 2-sequence of ints."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v), int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(i, (int, np.integer)) for i in v):
        return int(v[0]), int(v[1])
    if isinstance(v, (tuple, list)) and len(v) == 1 and isinstance(v[0], (int, np.integer)):
        return int(v[0]), int(v[0])
    raise InvalidInputError(f"{name} must be an int or a pair of ints, got {v!r}")


def conv_padding(
    padding: Union[str, int, Sequence[int]], kernel: Tuple[int, int], dilation: Tuple[int, int], stride: Tuple[int, int]
) -> Tuple[int, int, int, int]:
    """Resolve nn.Conv2d padding (int, pair, 'same', 'valid', or ai3's own
    (top, bottom, left, right)) to (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding == "same":
            if stride != (1, 1):
                raise InvalidInputError("padding='same' is not supported for strided convolutions (as in torch)")
            out = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                out += [total // 2, total - total // 2]
            return out[0], out[1], out[2], out[3]
        raise InvalidInputError(f"padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in padding):
            raise InvalidInputError(f"padding (top, bottom, left, right) must be non-negative ints, got {padding!r}")
        return tuple(padding)  # type: ignore[return-value]
    ph, pw = pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise InvalidInputError(f"padding must be non-negative, got {padding!r}")
    return ph, ph, pw, pw


_USM_TYPES = {"<f4": "float32", "<f8": "float64", "=f4": "float32", "=f8": "float64"}


def usm_array(x: Any, what: str = "input") -> Tuple[Any, int, Tuple[int, ...], str]:
    """An object with ``__sycl_usm_array_interface__`` (dpctl USM memory): (keep-alive, address, shape,
    dtype) of its device memory, which must be C-contiguous float32/float64."""
    iface = x.__sycl_usm_array_interface__
    shape = tuple(int(d) for d in iface["shape"])
    typestr = iface.get("typestr", "")
    if typestr not in _USM_TYPES:
        raise DTypeError(f"{what} (USM memory) must be float32 or float64, got typestr {typestr!r}")
    strides = iface.get("strides")
    if strides is not None:
        size = int(typestr[-1])
        expect: List[int] = []
        for d in reversed(shape):
            expect.insert(0, size)
            size *= d
        if tuple(int(s) for s in strides) != tuple(expect):
            raise InvalidInputError(f"{what} (USM memory) must be C-contiguous, got strides {tuple(strides)}")
    return x, int(iface["data"][0]) + int(iface.get("offset", 0)) * int(typestr[-1]), shape, _USM_TYPES[typestr]


# DLPack device types (dlpack.h's DLDeviceType) that ai3 reads, and names for the others.
DL_CPU, DL_CUDA, DL_CUDA_HOST, DL_ONEAPI = 1, 2, 3, 14
_DL_NAMES = {1: "CPU", 2: "CUDA", 3: "CUDA host", 4: "OpenCL", 7: "Vulkan", 8: "Metal", 10: "ROCm",
             11: "ROCm host", 13: "CUDA managed", 14: "oneAPI (SYCL)", 15: "WebGPU", 17: "MAIA"}


def dlpack_device_name(device: Tuple[int, int]) -> str:
    """A DLPack (device type, id) in words, e.g. ``"CUDA device 0"``."""
    return f"{_DL_NAMES.get(device[0], f'DLPack device type {device[0]}')} device {device[1]}"


def is_dlpack(x: Any) -> bool:
    """Whether ``x`` is a DLPack capsule or an object exporting one (``__dlpack__``)."""
    return type(x).__name__ == "PyCapsule" or (hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"))


def dlpack_tensor(x: Any, stream: Optional[Callable[[Tuple[int, int]], Any]] = None) -> _core.DLPackTensor:
    """Consume a DLPack capsule, or ask an exporter for one (``stream(device)`` is the stream
    argument its ``__dlpack__`` gets: the stream ai3 will read the memory on)."""
    if type(x).__name__ == "PyCapsule":
        return _core.DLPackTensor(x)
    device = tuple(int(v) for v in x.__dlpack_device__())
    s = stream(device) if stream is not None else None  # type: ignore[arg-type]
    try:
        capsule = x.__dlpack__(stream=s, max_version=(1, 0))
    except TypeError:  # exporters older than the 2023.12 array API take no max_version
        capsule = x.__dlpack__(stream=s)
    return _core.DLPackTensor(capsule)


def dlpack_host_input(t: _core.DLPackTensor, what: str = "input") -> Tuple[Any, int, Tuple[int, ...], str]:
    """A DLPack tensor in host memory as a C-ordered numpy array (a view unless it was strided):
    (keep-alive, address, shape, dtype), as :func:`input_array` returns."""
    if t.device[0] not in (DL_CPU, DL_CUDA_HOST):
        raise DeviceError(f"{what} is DLPack memory on the {dlpack_device_name(t.device)}, but this ai3 layer "
                          f"runs on the CPU")
    t.dtype  # noqa: B018  (raises DTypeError for a dtype ai3 does not run)
    arr = _c_order(np.asarray(t))
    return arr, arr.ctypes.data, tuple(arr.shape), dtype_name(arr.dtype, f"{what} dtype")


def input_array(x: Any, what: str = "input") -> Tuple[Any, int, Tuple[int, ...], str]:
    """A dense CPU view of a torch tensor, numpy array, ai3.Tensor or host DLPack tensor (a capsule or
    an object with ``__dlpack__``): (keep-alive, address, shape, dtype)."""
    if isinstance(x, torch.Tensor):
        if x.device.type != "cpu":
            raise DeviceError(f"{what} is on {x.device}, but this ai3 layer runs on the CPU")
        name = dtype_name(x.dtype, f"{what} dtype")
        x = x.detach().contiguous()
        return x, x.data_ptr(), tuple(x.shape), name
    if isinstance(x, Tensor):
        x = np.asarray(x)
    if isinstance(x, np.ndarray):
        name = dtype_name(x.dtype, f"{what} dtype")
        x = _c_order(x)
        return x, x.ctypes.data, tuple(x.shape), name
    if is_dlpack(x):
        return dlpack_host_input(dlpack_tensor(x), what)
    raise DTypeError(f"{what} must be a torch.Tensor, numpy.ndarray, ai3.Tensor or DLPack tensor, "
                     f"got {type(x).__name__}")


def empty_like_input(x: Any, shape: Sequence[int], dtype: str) -> Tuple[Any, int]:
    """An output buffer of the same kind (torch or numpy) as ``x``."""
    if isinstance(x, torch.Tensor):
        out = torch.empty(tuple(shape), dtype=DTYPES[dtype])
        return out, out.data_ptr()
    arr = np.empty(tuple(shape), dtype=dtype)
    return arr, arr.ctypes.data
