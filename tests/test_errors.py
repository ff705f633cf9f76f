"""Every error path: the exception TYPE (ai3.errors, each also the matching built-in) and a message
that names the problem. Nothing may crash the interpreter."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import ai3
from ai3 import layers as L

from helpers import randn

ALL_CONV = ai3.SUPPORTED_ALGORITHMS["conv2d"]


def net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))


def raises(exc, *words):
    """pytest.raises that also checks every word appears in the message."""

    class _Ctx:
        def __enter__(self):
            self.cm = pytest.raises(exc)
            self.info = self.cm.__enter__()
            return self.info

        def __exit__(self, *a):
            handled = self.cm.__exit__(*a)
            msg = str(self.info.value)
            assert isinstance(self.info.value, ai3.Ai3Error), f"{type(self.info.value)} is not an ai3.Ai3Error"
            for w in words:
                assert w in msg, f"{w!r} not in message {msg!r}"
            return handled

    return _Ctx()


# ---- the hierarchy --------------------------------------------------------------------------------

@pytest.mark.parametrize("cls,builtin", [
    (ai3.InvalidInputError, ValueError), (ai3.UnknownAlgorithmError, ValueError), (ai3.SelectorError, ValueError),
    (ai3.DTypeError, TypeError), (ai3.UnsupportedError, NotImplementedError), (ai3.DeviceError, RuntimeError),
    (ai3.BackendError, RuntimeError),
])
def test_error_hierarchy(cls, builtin):
    assert issubclass(cls, ai3.Ai3Error) and issubclass(cls, builtin)
    assert getattr(ai3.errors, cls.__name__) is cls


# ---- algorithms and selectors ---------------------------------------------------------------------

def test_unknown_algorithm_lists_valid_ones():
    with raises(ai3.UnknownAlgorithmError, "'fft'", *[repr(a) for a in ALL_CONV]):
        ai3.swap_conv2d(net(), "fft")
    with raises(ai3.UnknownAlgorithmError, "'smm'", "linear", "'direct'", "'default'"):
        ai3.swap_backend(nn.Sequential(nn.Linear(3, 3)), {"linear": "smm"})
    with raises(ai3.UnknownAlgorithmError, "'Direct'"):
        L.Conv2D(torch.ones(4, 3, 3, 3), algorithm="Direct")
    with raises(ai3.UnknownAlgorithmError, "'gemm'"):
        L.MaxPool2D(2, algorithm="gemm")
    for ctor in (lambda: L.Linear(torch.ones(2, 2), algorithm="x"), lambda: L.AvgPool2D(2, algorithm="x"),
                 lambda: L.AdaptiveAvgPool2D(2, algorithm="x"), lambda: L.ReLU(algorithm="x"),
                 lambda: L.Flatten(algorithm="x")):
        with raises(ai3.UnknownAlgorithmError, "'x'", "'direct'"):
            ctor()


def test_unknown_algorithm_from_a_sequence_or_callable():
    with raises(ai3.UnknownAlgorithmError, "'nope'"):
        ai3.swap_conv2d(net(), ["direct", "nope"])
    with raises(ai3.UnknownAlgorithmError, "'nope'"):
        ai3.swap_conv2d(net(), lambda m: "nope")
    with raises(ai3.UnknownAlgorithmError, "int"):
        ai3.swap_conv2d(net(), lambda m: 3)
    with raises(ai3.UnknownAlgorithmError, "None"):
        ai3.swap_conv2d(net(), [None, "direct"])


@pytest.mark.parametrize("seq", [["direct"], ["direct", "smm", "gemm"], []], ids=len)
def test_wrong_selector_length(seq):
    with raises(ai3.SelectorError, str(len(seq)), "2"):
        ai3.swap_conv2d(net(), seq)
    with raises(ai3.SelectorError, str(len(seq)), "2"):
        ai3.swap_conv2d(net(), seq, (1, 3, 9, 9))
    with raises(ai3.SelectorError, str(len(seq)), "2"):
        ai3.swap_backend(net(), {"conv2d": seq})


@pytest.mark.parametrize("bad", [5, 2.5, {"direct"}, {"a": "direct"}, b"direct", object()],
                         ids=["int", "float", "set", "dict", "bytes", "object"])
def test_bad_selector_type(bad):
    with pytest.raises((ai3.SelectorError, ai3.UnknownAlgorithmError)) as ei:
        ai3.swap_conv2d(net(), bad)
    assert "selector" in str(ei.value) or "algorithm" in str(ei.value)
    assert isinstance(ei.value, ai3.Ai3Error)


def test_selector_callable_without_module_argument():
    with raises(ai3.SelectorError, "module"):
        ai3.swap_conv2d(net(), lambda: "direct")


def test_two_argument_callable_without_sample_shape():
    def sel(module, input_shape):
        return "direct"

    with raises(ai3.SelectorError, "sel", "sample_input_shape"):
        ai3.swap_conv2d(net(), sel)
    with raises(ai3.SelectorError, "sel", "sample_input_shape"):
        ai3.swap_backend(net(), {"conv2d": sel})


def test_swap_backend_algos_keys_and_type():
    with raises(ai3.SelectorError, "'conv3d'", "conv2d"):
        ai3.swap_backend(net(), {"conv3d": "direct"})


def test_swap_backend_algos_must_be_a_mapping():
    """Passing a plain selector (not a mapping op -> selector) must be a clear ai3 error."""
    for bad in ("direct", ["direct", "smm"]):
        with pytest.raises(ai3.SelectorError) as ei:
            ai3.swap_backend(net(), bad)
        assert "conv2d" in str(ei.value) or "mapping" in str(ei.value).lower()


def test_failed_swap_changes_nothing():
    m = net()
    with pytest.raises(ai3.Ai3Error):
        ai3.swap_conv2d(m, ["direct", "bogus"])
    assert all(type(c) is nn.Conv2d for c in (m[0], m[2]))
    with pytest.raises(ai3.Ai3Error):
        ai3.swap_conv2d(m, ["direct", "mps"])
    assert all(type(c) is nn.Conv2d for c in (m[0], m[2]))


@pytest.mark.parametrize("sample", [(1, 2, 9, 9), (1, 3, 2, 2), "abc", (1, 3, "x", 9)], ids=str)
def test_bad_sample_input_shape(sample):
    with pytest.raises(ai3.InvalidInputError) as ei:
        ai3.swap_conv2d(net(), lambda m, s: "direct", sample)
    assert "sample_input_shape" in str(ei.value)
    with pytest.raises(ai3.InvalidInputError) as ei:
        ai3.swap_backend(net(), {"conv2d": lambda m, s: "direct"}, sample)
    assert "sample_input_shape" in str(ei.value)


# ---- inputs a swapped conv / Model / layer cannot take -------------------------------------------

def swapped_net():
    m = net()
    ai3.swap_conv2d(m, "direct")
    return m


def runners():
    """(name, callable taking x) for the three paths."""
    m = swapped_net()
    model = ai3.swap_backend(net())
    layer = L.Conv2D.from_torch(net()[0], "direct")
    return [("swap_conv2d", lambda x: m(x)), ("Model", lambda x: model(x)), ("layer", lambda x: layer(x))]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["swap_conv2d", "Model", "layer"])
def test_wrong_channel_count(which):
    name, run = runners()[which]
    with raises(ai3.InvalidInputError, "3 channels", "5"):
        with torch.no_grad():
            run(randn(1, 5, 9, 9))


@pytest.mark.parametrize("which", [0, 1, 2], ids=["swap_conv2d", "Model", "layer"])
def test_too_small_input(which):
    name, run = runners()[which]
    with raises(ai3.InvalidInputError, "too small"):
        with torch.no_grad():
            run(randn(1, 3, 2, 9))


@pytest.mark.parametrize("shape", [(9,), (3, 9), (1, 1, 3, 9, 9), ()], ids=str)
@pytest.mark.parametrize("which", [0, 1, 2], ids=["swap_conv2d", "Model", "layer"])
def test_wrong_rank(which, shape):
    name, run = runners()[which]
    with raises(ai3.InvalidInputError, "3-D", "4-D", str(tuple(shape)).replace(",)", ")")[:-1]):
        with torch.no_grad():
            run(randn(*shape))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool,
                                   torch.complex64], ids=str)
@pytest.mark.parametrize("which", [0, 1, 2], ids=["swap_conv2d", "Model", "layer"])
def test_unsupported_input_dtype(which, dtype):
    name, run = runners()[which]
    x = torch.ones(1, 3, 9, 9).to(dtype)
    with raises(ai3.DTypeError, str(dtype).replace("torch.", "")):
        with torch.no_grad():
            run(x)


@pytest.mark.parametrize("np_dtype", [np.float16, np.int32, np.uint8])
def test_unsupported_numpy_dtype(np_dtype):
    model = ai3.swap_backend(net())
    with raises(ai3.DTypeError, np.dtype(np_dtype).name):
        model(np.ones((1, 3, 9, 9), dtype=np_dtype))
    with raises(ai3.DTypeError, np.dtype(np_dtype).name):
        L.ReLU()(np.ones(3, dtype=np_dtype))
    with raises(ai3.DTypeError, np.dtype(np_dtype).name):
        ai3.Tensor(np.ones(3, dtype=np_dtype))


@pytest.mark.parametrize("model_dtype,input_dtype", [(torch.float32, torch.float64), (torch.float64, torch.float32)],
                         ids=["f32_model", "f64_model"])
def test_dtype_mismatch_names_both(model_dtype, input_dtype):
    names = [str(model_dtype).replace("torch.", ""), str(input_dtype).replace("torch.", "")]
    x = randn(1, 3, 9, 9, dtype=input_dtype)
    m = net().to(model_dtype)
    ai3.swap_conv2d(m, "smm")
    with raises(ai3.DTypeError, *names):
        with torch.no_grad():
            m(x)
    model = ai3.swap_backend(net().to(model_dtype))
    for run in (lambda: model(x), lambda: model.predict(x.numpy())):
        with raises(ai3.DTypeError, *names):
            run()
    layer = L.Conv2D.from_torch(net()[0].to(model_dtype))
    with raises(ai3.DTypeError, *names):
        layer(x)
    lin = L.Linear(torch.ones(2, 3, dtype=model_dtype))
    with raises(ai3.DTypeError, *names):
        lin(randn(4, 3, dtype=input_dtype))
    assert issubclass(ai3.DTypeError, TypeError)


@pytest.mark.parametrize("dtype", [torch.float16, "float16", np.int32, "int64", torch.bfloat16], ids=str)
def test_unsupported_model_dtype(dtype):
    with raises(ai3.DTypeError, "float32", "float64"):
        ai3.swap_backend(net(), dtype=dtype)
    with raises(ai3.DTypeError, "float32", "float64"):
        L.Linear(torch.ones(2, 2), dtype=dtype)


def test_half_module():
    with raises(ai3.DTypeError, "float16"):
        ai3.swap_backend(net().half())
    m = net().half()
    ai3.swap_conv2d(m)
    with raises(ai3.DTypeError, "float16"):
        with torch.no_grad():
            m(torch.ones(1, 3, 9, 9, dtype=torch.float16))


def test_non_tensor_input():
    m = swapped_net()
    with raises(ai3.InvalidInputError, "list"):
        m[0]([1.0, 2.0])
    model = ai3.swap_backend(net())
    with pytest.raises(ai3.Ai3Error) as ei:
        model([[1.0]])
    assert "list" in str(ei.value)
    with pytest.raises(ai3.Ai3Error) as ei:
        L.ReLU()("abc")
    assert "str" in str(ei.value)


# ---- FROM_BACKEND, non-modules -------------------------------------------------------------------

@pytest.mark.parametrize("value", ["tensorflow", "jax", "TORCH", 1])
def test_from_backend_invalid(monkeypatch, value):
    monkeypatch.setattr(ai3, "FROM_BACKEND", value)
    with raises(ai3.InvalidInputError, "FROM_BACKEND", repr(value)):
        ai3.swap_conv2d(net())
    with raises(ai3.InvalidInputError, "FROM_BACKEND", repr(value)):
        ai3.swap_backend(net())


def test_from_backend_torch_is_valid(monkeypatch):
    monkeypatch.setattr(ai3, "FROM_BACKEND", "torch")
    m = net()
    ai3.swap_conv2d(m, "direct")
    assert m[0].algorithm == "direct"
    assert isinstance(ai3.swap_backend(net()), ai3.Model)


def test_from_backend_default_is_none():
    import importlib

    assert importlib.import_module("ai3").FROM_BACKEND is None  # (conftest resets it per test)


@pytest.mark.parametrize("bad", ["model", None, 3, torch.ones(3), [nn.Conv2d(3, 4, 3)], nn.Conv2d], ids=str)
def test_non_module_given(bad):
    with pytest.raises(ai3.Ai3Error) as ei:
        ai3.swap_conv2d(bad)
    assert "Module" in str(ei.value) and type(bad).__name__ in str(ei.value)
    with pytest.raises(ai3.Ai3Error) as ei:
        ai3.swap_backend(bad)
    assert "Module" in str(ei.value)


# ---- devices ----------------------------------------------------------------------------------------

def _usable(device) -> bool:
    backend = {"cuda": "cuda", "sycl": "sycl", "opencl": "sycl", "level_zero": "sycl", "mps": "apple"}
    name = str(device).split(":")[0]
    return any(d.backend == backend.get(name, name) for d in ai3.devices())


@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda", 0), "sycl", "opencl:cpu",
                                    "level_zero:gpu:0", "opencl:gpu", "mps"], ids=str)
def test_unavailable_device(device):
    if _usable(device):
        pytest.skip(f"{device} is usable in this build")
    usable = [repr(d.name) for d in ai3.devices()]
    with raises(ai3.DeviceError, *usable):
        ai3.swap_conv2d(net(), device=device)
    with raises(ai3.DeviceError, *usable):
        ai3.swap_backend(net(), device=device)
    with raises(ai3.DeviceError, *usable):
        ai3.Model([L.ReLU()], device=device)


def test_unavailable_device_from_environment(monkeypatch):
    if _usable("cuda"):
        pytest.skip("cuda is usable in this build")
    monkeypatch.setenv("AI3_DEVICE", "cuda")
    with raises(ai3.DeviceError, "cuda"):
        ai3.swap_conv2d(net())


@pytest.mark.parametrize("device", [3, 1.5, object()], ids=["int", "float", "object"])
def test_bad_device_type(device):
    with raises(ai3.DeviceError, "device"):
        ai3.swap_conv2d(net(), device=device)


def test_cpu_device_and_devices_list():
    names = [d.name for d in ai3.devices()]
    assert "cpu" in names
    for d in ("cpu", torch.device("cpu")):
        m = net()
        ai3.swap_conv2d(m, "direct", device=d)
        assert str(m[0].ai3_device) == "cpu"
    assert isinstance(ai3.swap_backend(net(), device="cpu"), ai3.Model)


def test_using_flags_match_devices():
    backends = {d.backend for d in ai3.devices()}
    assert ai3.using_sycl() is ("sycl" in backends)
    assert ai3.using_cudnn() is ("cuda" in backends)
    assert ai3.using_cublas() is ("cuda" in backends)
    assert ai3.using_mps_and_metal() is ("apple" in backends)
    status = ai3.backend_status()
    for flag, backend in ((ai3.using_sycl, "sycl"), (ai3.using_cudnn, "cuda"), (ai3.using_mps_and_metal, "apple")):
        if status.get(backend, "off").startswith("off"):
            assert flag() is False


@pytest.mark.skipif(sys.platform == "darwin", reason="mps/metal exist on macOS")
@pytest.mark.parametrize("algo", ["mps", "metal"])
def test_mps_metal_off_macos(algo):
    with raises(ai3.UnsupportedError, repr(algo), "macOS"):
        ai3.swap_conv2d(net(), algo)
    with raises(ai3.UnsupportedError, repr(algo), "macOS"):
        ai3.swap_backend(net(), {"conv2d": algo})
    with raises(ai3.UnsupportedError, repr(algo), "macOS"):
        ai3.swap_conv2d(net(), lambda m: algo)
    with raises(ai3.UnsupportedError, repr(algo)):
        L.Conv2D(torch.ones(4, 3, 3, 3), algorithm=algo)


# ---- Model / Tensor misuse ------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [nn.ReLU(), "relu", None, 3], ids=str)
def test_model_of_non_layers(bad):
    with raises(ai3.InvalidInputError, "item 1", type(bad).__name__):
        ai3.Model([L.ReLU(), bad])


def test_model_mixing_dtypes():
    with raises(ai3.DTypeError, "float32", "float64"):
        ai3.Model([L.Linear(np.zeros((2, 2), np.float32)), L.Linear(np.zeros((2, 2), np.float64))])


@pytest.mark.parametrize("out_type", [list, dict, int, "tensorflow", torch.float32], ids=str)
def test_predict_wrong_out_type(out_type):
    model = ai3.swap_backend(net())
    with pytest.raises(ai3.Ai3Error) as ei:
        model.predict(randn(1, 3, 9, 9), out_type)
    assert isinstance(ei.value, TypeError)
    assert str(out_type) in str(ei.value) or repr(out_type) in str(ei.value)


def test_model_error_names_the_failing_layer_shape():
    model = ai3.Model([L.Flatten(), L.Linear(torch.ones(2, 10))])
    with raises(ai3.InvalidInputError, "in_features=10", "12"):
        model(randn(3, 4, 3))


# ---- invalid layer hyper-parameters ---------------------------------------------------------------

@pytest.mark.parametrize("make,words", [
    (lambda: L.Conv2D(torch.ones(4, 3, 3)), ["4-D", "(4, 3, 3)"]),
    (lambda: L.Conv2D(torch.ones(4, 3, 3, 3), stride=0), ["stride"]),
    (lambda: L.Conv2D(torch.ones(4, 3, 3, 3), dilation=0), ["dilation"]),
    (lambda: L.Conv2D(torch.ones(4, 3, 3, 3), padding=-1), ["padding"]),
    (lambda: L.Conv2D(torch.ones(4, 3, 3, 3), padding="full"), ["padding", "'full'"]),
    (lambda: L.Conv2D(torch.ones(4, 3, 3, 3), padding="same", stride=2), ["same", "strided"]),
    (lambda: L.Conv2D(torch.ones(4, 1, 3, 3), groups=3), ["groups", "divisible"]),
    (lambda: L.Conv2D(torch.ones(4, 1, 3, 3), groups=0), ["groups"]),
    (lambda: L.Conv2D(torch.ones(4, 3, 3, 3), padding_mode="mirror"), ["padding_mode", "'mirror'"]),
    (lambda: L.Conv2D(torch.ones(4, 3, 3, 3), torch.ones(3)), ["bias", "(4,)"]),
    (lambda: L.Conv2D(torch.ones(4, 3, 0, 3)), ["empty"]),
    (lambda: L.Conv2D(torch.ones(4, 3, 3, 3), stride=(1, 2, 3)), ["stride"]),
    (lambda: L.Linear(torch.ones(4)), ["2-D"]),
    (lambda: L.Linear(torch.ones(4, 3), torch.ones(3)), ["bias", "(4,)"]),
    (lambda: L.MaxPool2D(2, padding=2), ["padding", "half"]),
    (lambda: L.MaxPool2D(0), ["kernel_size"]),
    (lambda: L.MaxPool2D(2, stride=0), ["stride"]),
    (lambda: L.MaxPool2D(3, dilation=0), ["dilation"]),
    (lambda: L.AvgPool2D(2, padding=2), ["padding", "half"]),
    (lambda: L.AvgPool2D(2, divisor_override=0), ["divisor_override"]),
    (lambda: L.AdaptiveAvgPool2D(0), ["output_size"]),
    (lambda: L.AdaptiveAvgPool2D((1, 2, 3)), ["output_size"]),
    (lambda: L.AdaptiveAvgPool2D(-2), ["output_size"]),
], ids=lambda v: None if callable(v) else "-".join(v))
def test_invalid_layer_hyperparameters(make, words):
    with raises(ai3.InvalidInputError, *words):
        make()


@pytest.mark.parametrize("run,words", [
    (lambda: L.Linear(torch.ones(4, 3))(randn(2, 5)), ["in_features=3", "(2, 5)"]),
    (lambda: L.Linear(torch.ones(4, 3))(torch.tensor(1.0)), ["scalar"]),
    (lambda: L.MaxPool2D(5)(randn(1, 1, 3, 3)), ["too small"]),
    (lambda: L.MaxPool2D(2)(randn(3, 3)), ["3-D", "(3, 3)"]),
    (lambda: L.AvgPool2D(3)(randn(1, 1, 2, 5)), ["too small"]),
    (lambda: L.AdaptiveAvgPool2D(2)(randn(1, 1, 0, 3)), ["empty"]),
    (lambda: L.AdaptiveAvgPool2D(2)(randn(5)), ["3-D"]),
    (lambda: L.Flatten(5)(randn(2, 3)), ["start_dim=5", "rank 2"]),
    (lambda: L.Flatten(0, -4)(randn(2, 3)), ["end_dim=-4"]),
    (lambda: L.Flatten(2, 1)(randn(2, 3, 4)), ["start_dim", "end_dim"]),
    (lambda: L.Conv2D(torch.ones(2, 1, 3, 3), padding=3, padding_mode="reflect")(randn(1, 1, 3, 3)),
     ["reflect", "padding"]),
    (lambda: L.Conv2D(torch.ones(2, 1, 3, 3), padding=4, padding_mode="circular")(randn(1, 1, 3, 3)),
     ["circular", "padding"]),
], ids=lambda v: None if callable(v) else "-".join(v))
def test_invalid_layer_inputs(run, words):
    with raises(ai3.InvalidInputError, *words):
        run()


def test_swapped_conv_reflect_padding_too_large():
    conv = nn.Conv2d(1, 2, 3, padding=3, padding_mode="reflect")
    ai3.swap_conv2d(conv, "smm")
    with raises(ai3.InvalidInputError, "reflect"):
        with torch.no_grad():
            conv(randn(1, 1, 3, 3))


# ---- nothing crashes the interpreter ---------------------------------------------------------------

HOSTILE = [
    # (id, expression); each must raise a Python exception (or, where OK_TO_SUCCEED, succeed),
    # never kill the process
    ("adaptive_out_2^62_elements", "ai3.Model([L.AdaptiveAvgPool2D((2**31, 2**31))])(torch.ones(1, 1, 1, 1))"),
    ("adaptive_out_4TiB", "ai3.Model([L.AdaptiveAvgPool2D((2**20, 2**20))])(torch.ones(1, 1, 1, 1))"),
    ("conv_padding_2^40", "L.Conv2D(torch.ones(1, 1, 1, 1), padding=2**40)(torch.ones(1, 1, 1, 1))"),
    ("conv_direct_stride_2^30",
     "L.Conv2D(torch.ones(1, 1, 1, 1), stride=2**30, algorithm='direct')(torch.ones(1, 1, 5, 5))"),
    ("conv_direct_stride_2^62",
     "L.Conv2D(torch.ones(1, 1, 1, 1), stride=2**62, algorithm='direct')(torch.ones(1, 1, 5, 5))"),
    ("conv_smm_stride_2^62", "L.Conv2D(torch.ones(1, 1, 1, 1), stride=2**62, algorithm='smm')(torch.ones(1, 1, 5, 5))"),
    ("conv_dilation_2^62", "L.Conv2D(torch.ones(1, 1, 3, 3), dilation=2**62)(torch.ones(1, 1, 5, 5))"),
    ("maxpool_kernel_2^40", "L.MaxPool2D(2**40, padding=2**39)(torch.ones(1, 1, 4, 4))"),  # once looped ~250 s
    ("linear_2^62_rows", "L.Linear(torch.ones(2, 3))(torch.ones(1, 3).expand(2**62, 3))"),
    ("relu_2^40_expanded", "L.ReLU()(torch.ones(1).expand(2**40))"),
    ("flatten_dim_-2^62", "L.Flatten(-2**62)(torch.ones(2, 2))"),
    ("empty_memoryview", "memoryview(ai3.Tensor(np.ones((0, 3), np.float32))).tolist()"),
    ("empty_model_predict", "ai3.Model([L.ReLU()]).predict(np.ones((2, 0, 3), np.float64)).numpy()"),
    ("op_unknown_algorithm", "torch.ops.ai3.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3), None, [1, 1], "
                             "[0, 0, 0, 0], [1, 1], 1, 'zeros', 'nope')"),
    ("op_unknown_padding_mode", "torch.ops.ai3.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3), None, [1, 1], "
                                "[0, 0, 0, 0], [1, 1], 1, 'bogus-mode', 'direct')"),
    ("op_stride_0", "torch.ops.ai3.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3), None, [0, 1], "
                    "[0, 0, 0, 0], [1, 1], 1, 'zeros', 'direct')"),
    ("op_groups_0", "torch.ops.ai3.conv2d(torch.ones(1, 2, 4, 4), torch.ones(2, 1, 3, 3), None, [1, 1], "
                    "[0, 0, 0, 0], [1, 1], 0, 'zeros', 'direct')"),
    ("op_short_bias", "torch.ops.ai3.conv2d(torch.ones(1, 1, 4, 4), torch.ones(64, 1, 3, 3), torch.ones(1), [1, 1], "
                      "[0, 0, 0, 0], [1, 1], 1, 'zeros', 'direct')"),
    ("op_negative_padding", "torch.ops.ai3.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3), None, [1, 1], "
                            "[-5, 0, 0, 0], [1, 1], 1, 'zeros', 'smm')"),
]

OK_TO_SUCCEED = {"conv_direct_stride_2^30", "conv_direct_stride_2^62", "conv_smm_stride_2^62", "empty_memoryview",
                 "empty_model_predict"}

_CHILD = r"""
import resource, sys, numpy as np, torch, ai3
from ai3 import layers as L
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
cases = [e for _, e in CASES]
for i in range(int(sys.argv[1]), len(cases)):
    print("START", i, flush=True)
    try:
        eval(cases[i])
        print("RESULT", i, "ok", flush=True)
    except (Exception, MemoryError) as e:
        print("RESULT", i, type(e).__name__, str(e)[:200].replace(chr(10), " "), flush=True)
"""


@pytest.fixture(scope="module")
def hostile_outcomes():
    """Run every HOSTILE case in a child process (6 GiB address-space limit); when one kills the child,
    record it and restart after it. Returns {index: outcome line or 'CRASH rc=...'}."""
    code = f"CASES = {[(n, e) for n, e in HOSTILE]!r}\n" + _CHILD
    outcomes, start = {}, 0
    while start < len(HOSTILE):
        r = subprocess.run([sys.executable, "-c", code, str(start)], capture_output=True, text=True, timeout=300)
        last = None
        for line in r.stdout.splitlines():
            parts = line.split(" ", 2)
            if parts[0] == "START":
                last = int(parts[1])
            elif parts[0] == "RESULT":
                outcomes[int(parts[1])] = parts[2] if len(parts) > 2 else ""
        if r.returncode == 0:
            break
        if last is None or last in outcomes:
            pytest.fail(f"child failed outside a case: rc={r.returncode} {r.stderr[-2000:]}")
        outcomes[last] = f"CRASH rc={r.returncode} {r.stderr[-500:]}"
        start = last + 1
    return outcomes


@pytest.mark.parametrize("index", range(len(HOSTILE)), ids=[n for n, _ in HOSTILE])
def test_hostile_inputs_do_not_crash_the_interpreter(hostile_outcomes, index):
    outcome = hostile_outcomes.get(index, "missing")
    name, expr = HOSTILE[index]
    assert not outcome.startswith("CRASH") and outcome != "missing", f"{expr}: {outcome}"
    if name not in OK_TO_SUCCEED:
        assert outcome != "ok", f"{expr} must raise"
    if outcome != "ok":
        assert outcome.split(" ")[0] in {"InvalidInputError", "DTypeError", "BackendError", "UnsupportedError",
                                         "UnknownAlgorithmError", "MemoryError", "RuntimeError", "ValueError"}, outcome
