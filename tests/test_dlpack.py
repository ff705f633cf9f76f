"""DLPack both ways: ``ai3.Tensor`` exports its memory (torch.from_dlpack, numpy.from_dlpack
share it), and ``ai3.Model`` and ai3 layers read DLPack capsules and exporters in place.

Device memory (oneAPI/SYCL USM) is exercised with capsules built here by ctypes over dpctl
USM allocations, so the test covers the consumer's parsing, its device checks and its
release of the producer's memory exactly once, without depending on any one producer.
"""

from __future__ import annotations

import ctypes
import gc

import numpy as np
import pytest
import torch
from torch import nn

import ai3
from ai3 import layers as L

from helpers import DTYPES, assert_network_close, dtype_id, randn, sycl_has_fp64, sycl_test_device

KDL_CPU, KDL_CUDA, KDL_ROCM, KDL_ONEAPI = 1, 2, 10, 14


def _net(dtype=torch.float32) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(6 * 4 * 4, 5)).to(dtype).eval()


# ---- a DLPack producer written with ctypes (the ABI of dlpack.h, version 1.0) -----------------------

class _Device(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _Device), ("ndim", ctypes.c_int32), ("dtype", _DType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class _Managed(ctypes.Structure):
    pass


_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(_Managed))
_Managed._fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _DELETER)]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _ManagedVersioned(ctypes.Structure):
    pass


_DELETER_V = ctypes.CFUNCTYPE(None, ctypes.POINTER(_ManagedVersioned))
_ManagedVersioned._fields_ = [("version", _Version), ("manager_ctx", ctypes.c_void_p), ("deleter", _DELETER_V),
                              ("flags", ctypes.c_uint64), ("dl_tensor", _DLTensor)]

_PyCapsule_New = ctypes.pythonapi.PyCapsule_New
_PyCapsule_New.restype = ctypes.py_object
_PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class Producer:
    """Capsules over memory someone else owns; counts the deleter's calls."""

    def __init__(self):
        self.deleted = 0
        self._keep = []

    def capsule(self, data: int, shape, *, device=(KDL_CPU, 0), code=2, bits=32, strides=None, offset=0,
                versioned=False, major=1):
        shape_arr = (ctypes.c_int64 * len(shape))(*shape)
        strides_arr = None if strides is None else (ctypes.c_int64 * len(strides))(*strides)
        t = _DLTensor(ctypes.c_void_p(data), _Device(*device), len(shape), _DType(code, bits, 1), shape_arr,
                      strides_arr, offset)

        def on_delete(_):
            self.deleted += 1

        if versioned:
            deleter = _DELETER_V(on_delete)
            m = _ManagedVersioned(_Version(major, 0), None, deleter, 0, t)
            name = b"dltensor_versioned"
        else:
            deleter = _DELETER(on_delete)
            m = _Managed(t, None, deleter)
            name = b"dltensor"
        self._keep += [shape_arr, strides_arr, deleter, m]
        return _PyCapsule_New(ctypes.addressof(m), name, None)


# ---- ai3.Tensor as a DLPack exporter ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_tensor_exports_zero_copy(dtype):
    x = randn(2, 3, 8, 8, dtype=dtype, seed=1)
    net = _net(dtype)
    out = ai3.swap_backend(net).predict(x)
    assert out.__dlpack_device__() == (KDL_CPU, 0)
    t = torch.from_dlpack(out)
    a = np.from_dlpack(out)
    assert t.dtype == dtype and tuple(t.shape) == out.shape
    assert t.data_ptr() == a.ctypes.data == np.asarray(out).ctypes.data  # one memory, three views
    with torch.no_grad():
        assert_network_close(t, net(x))
    t[0, 0] = 42.0  # writable, as the buffer protocol's view is
    assert a[0, 0] == 42.0
    del out, a
    gc.collect()
    assert t[0, 0].item() == 42.0  # the capsule's manager holds the storage after the ai3.Tensor is gone


def test_tensor_dlpack_protocol_arguments():
    out = ai3.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    copied = np.from_dlpack(out, copy=True)
    assert copied.ctypes.data != np.asarray(out).ctypes.data and copied.tolist() == np.asarray(out).tolist()
    assert torch.utils.dlpack.from_dlpack(out.__dlpack__()).tolist() == [[0, 1, 2], [3, 4, 5]]  # legacy capsule
    with pytest.raises(BufferError, match="host memory"):
        out.__dlpack__(stream=5)
    with pytest.raises(BufferError, match="kDLCPU"):
        out.__dlpack__(dl_device=(KDL_CUDA, 0))
    empty = ai3.Tensor(np.zeros((0, 4), dtype=np.float64))
    assert torch.from_dlpack(empty).shape == (0, 4)
    assert np.from_dlpack(ai3.Tensor(np.float32(3.5))).item() == 3.5  # 0-d
    capsule = out.__dlpack__()
    del capsule  # an unconsumed capsule frees its manager (ASan builds check the leak)


# ---- DLPack into ai3 ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("form", ["capsule", "versioned capsule", "exporter"])
def test_model_reads_host_dlpack(form, dtype):
    x = randn(2, 3, 8, 8, dtype=dtype, seed=2)
    net = _net(dtype)
    model = ai3.swap_backend(net)
    with torch.no_grad():
        expected = net(x)
    if form == "capsule":
        arg = torch.utils.dlpack.to_dlpack(x)
    elif form == "versioned capsule":
        arg = x.__dlpack__(max_version=(1, 0))
    else:
        class Exporter:  # what CuPy, JAX and others look like to ai3: __dlpack__ and nothing else
            def __dlpack__(self, **kw):
                return x.__dlpack__(**kw)

            def __dlpack_device__(self):
                return x.__dlpack_device__()
        arg = Exporter()
    out = model(arg)
    assert isinstance(out, ai3.Tensor)
    assert_network_close(torch.from_dlpack(out), expected)


def test_host_dlpack_zero_copy_and_released_once():
    x = randn(1, 3, 8, 8, seed=3).numpy()
    p = Producer()
    layer = L.ReLU()
    y = layer(p.capsule(x.ctypes.data, x.shape))
    np.testing.assert_array_equal(np.asarray(y), np.maximum(x, 0))
    gc.collect()
    assert p.deleted == 1
    # Strided host memory is read through a copy; the answer is the same.
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2))
    strides = [s // 4 for s in xt.transpose(0, 1, 3, 2).strides]
    net = _net()
    model = ai3.swap_backend(net)
    with torch.no_grad():
        expected = net(torch.from_numpy(x))
    out = model(p.capsule(xt.ctypes.data, x.shape, strides=strides, versioned=True))
    assert_network_close(torch.from_dlpack(out), expected)
    gc.collect()
    assert p.deleted == 2


def test_dlpack_bad_input():
    x = np.zeros((1, 3, 8, 8), dtype=np.float32)
    model = ai3.swap_backend(_net())
    p = Producer()
    with pytest.raises(ai3.DTypeError, match="int32"):
        model(p.capsule(x.ctypes.data, x.shape, code=0, bits=32))
    with pytest.raises(ai3.DTypeError, match="float16"):
        model(p.capsule(x.ctypes.data, x.shape, bits=16))
    with pytest.raises(ai3.DTypeError, match="bfloat16"):
        model(p.capsule(x.ctypes.data, x.shape, code=4, bits=16))
    with pytest.raises(ai3.DeviceError, match="ROCm"):
        model(p.capsule(x.ctypes.data, x.shape, device=(KDL_ROCM, 0)))
    with pytest.raises(ai3.DeviceError, match="CUDA device 0.*runs on cpu"):
        model(p.capsule(x.ctypes.data, x.shape, device=(KDL_CUDA, 0)))
    with pytest.raises(ai3.DeviceError, match="CUDA device 0.*CPU"):
        L.ReLU()(p.capsule(x.ctypes.data, x.shape, device=(KDL_CUDA, 0)))
    with pytest.raises(ai3.InvalidInputError, match="version 2"):
        model(p.capsule(x.ctypes.data, x.shape, versioned=True, major=2))
    capsule = torch.utils.dlpack.to_dlpack(torch.from_numpy(x))
    model(capsule)
    with pytest.raises(ai3.InvalidInputError, match="already consumed"):
        model(capsule)
    with pytest.raises(ai3.InvalidInputError, match="shape"):
        model(torch.utils.dlpack.to_dlpack(torch.zeros(1, 4, 8, 8)))
    gc.collect()
    assert p.deleted == 6  # every refused capsule but the version-2 one (unreadable) was given back


# ---- SYCL USM memory through DLPack (kDLOneAPI) ----------------------------------------------------

@pytest.mark.skipif(not ai3.using_sycl(), reason="no SYCL device")
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_model_reads_oneapi_dlpack(dtype):
    import dpctl
    import dpctl.memory as dpm

    device = sycl_test_device()
    if dtype == torch.float64 and not sycl_has_fp64(device):
        pytest.skip(f"{device} has no fp64")
    x = randn(2, 3, 8, 8, dtype=dtype, seed=4)
    net = _net(dtype)
    with torch.no_grad():
        expected = net(x)
    model = ai3.swap_backend(net, device=device)
    q = dpctl.SyclQueue(device)
    mem = dpm.MemoryUSMDevice(x.numel() * x.element_size(), queue=q)
    mem.copy_from_host(x.numpy().tobytes())
    p = Producer()
    bits = x.element_size() * 8
    out = model(p.capsule(mem._pointer, x.shape, device=(KDL_ONEAPI, 0), bits=bits))
    assert_network_close(torch.from_dlpack(out), expected)
    gc.collect()
    assert p.deleted == 1
    with pytest.raises(ai3.InvalidInputError, match="C-contiguous"):
        model(p.capsule(mem._pointer, x.shape, device=(KDL_ONEAPI, 0), bits=bits, strides=[192, 64, 1, 8]))
    host = x.numpy().copy()  # host memory claiming to be USM: refused, never read as device memory
    with pytest.raises(ai3.DeviceError, match="context"):
        model(p.capsule(host.ctypes.data, x.shape, device=(KDL_ONEAPI, 0), bits=bits))
    with pytest.raises(ai3.DeviceError, match="oneAPI"):
        ai3.swap_backend(net).predict(p.capsule(mem._pointer, x.shape, device=(KDL_ONEAPI, 0), bits=bits))
