"""The graph form's operations on a SYCL device (``opencl:cpu`` wherever the ``sycl`` extra is installed).

Each graph op (batchnorm2d, add, mul, cat, split, permute, reshape, mean, layernorm and the
activations) x dtype against torch, run two ways: inside a graph ``ai3.Model`` on the device
(operands in device memory, constants copied there, buffers reused in place) and as one layer
on host tensors (the kernels stage them); in-place and aliased operands; proof that the SYCL
kernels, not the CPU fallback, ran. Then real torchvision networks through ``swap_backend`` and
``swap_conv2d`` with ``device=`` the SYCL device, float64, the torch callback node, and errors
for bad input. Skipped only when no SYCL device exists.
"""

from __future__ import annotations

import copy
from typing import Callable, List, NamedTuple, Sequence

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ai3
from ai3 import _sycl_backend
from ai3 import layers as L
from ai3.devices import resolve_device

from helpers import (
    DTYPES,
    assert_layer_close,
    assert_network_close,
    dtype_id,
    forbid_torch_ops,
    randn,
    sycl_has_fp64,
    sycl_test_device,
)
from test_models import GRAPH_ATEN, make

pytestmark = pytest.mark.skipif(not ai3.using_sycl(), reason=f"no SYCL device: {_sycl_backend.unavailable_reason()}")


DEVICE = sycl_test_device()


def _fp64() -> bool:
    return sycl_has_fp64(DEVICE)


def _skip_f64(dtype: torch.dtype) -> None:
    if dtype == torch.float64 and not _fp64():
        pytest.skip(f"{DEVICE} has no fp64")


def launches() -> int:
    return ai3._sycl.launch_count()


DT = pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)


# ---- op by op -----------------------------------------------------------------------------------

class Case(NamedTuple):
    """One op on the graph input x and constant operands: ``layer(*[values[i] for i in order])``
    where value 0 is x and value i > 0 is ``consts[i - 1]``; ``ref`` is torch on the same values."""

    layer: L.Layer
    x: torch.Tensor
    consts: List[torch.Tensor]
    order: List[int]
    ref: Callable[..., torch.Tensor]


def _values(c: Case) -> List[torch.Tensor]:
    return [c.x] + list(c.consts)


def on_device_graph(c: Case) -> ai3.Model:
    """The op as the last node of a graph Model on the device, its constants as Constant nodes."""
    layers = [L.Constant(v, dtype=str(v.dtype).replace("torch.", "")) for v in c.consts] + [c.layer]
    inputs = [[] for _ in c.consts] + [list(c.order)]
    return ai3.Model(layers, inputs=inputs, device=DEVICE)


def on_host_pointers(layer: L.Layer, xs: Sequence[torch.Tensor], out: torch.Tensor = None) -> torch.Tensor:
    """``layer`` run on the SYCL device directly on host tensors (the kernels stage them)."""
    dev = resolve_device(DEVICE)
    xs = [x.contiguous() for x in xs]
    shapes = [list(x.shape) for x in xs]
    if out is None:
        out = torch.empty(layer._core.out_shape_n(shapes), dtype=xs[0].dtype)
    layer._core.forward_n([x.data_ptr() for x in xs], shapes, out.data_ptr(),
                          str(xs[0].dtype).replace("torch.", ""), dev.core)
    return out


def _pointwise_input(dtype: torch.dtype) -> torch.Tensor:
    x = torch.cat([torch.linspace(-8, 8, 161, dtype=dtype), randn(3, 50, dtype=dtype).flatten() * 4,
                   torch.tensor([-3.0, 3.0, 0.0, -40.0, 40.0], dtype=dtype)])
    return x.reshape(2, -1)


def _bn(dtype: torch.dtype) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(4).to(dtype).eval()
    with torch.no_grad():
        bn.running_mean.copy_(randn(4, dtype=dtype, seed=7))
        bn.running_var.copy_(randn(4, dtype=dtype, seed=8).abs() + 0.1)
        bn.weight.copy_(randn(4, dtype=dtype, seed=9))
        bn.bias.copy_(randn(4, dtype=dtype, seed=10))
    return bn


BROADCAST = [((2, 3, 4, 5), (2, 3, 4, 5)), ((2, 3, 4, 5), (2, 3, 1, 1)), ((2, 3, 4, 5), (3, 1, 1)),
             ((4,), (1,)), ((2, 1, 5), (1, 4, 1)), ((2, 3, 4, 5), ()), ((1, 6), (5, 1)),
             ((2, 3, 4, 5), (2, 1, 4, 1)), ((2, 1, 3, 1, 5), (1, 4, 1, 6, 1))]  # 4 and 5 dims that do not merge

POINTWISE = {"relu6": (L.ReLU6, F.relu6), "hardswish": (L.Hardswish, F.hardswish),
             "hardsigmoid": (L.Hardsigmoid, F.hardsigmoid), "silu": (L.SiLU, F.silu),
             "sigmoid": (L.Sigmoid, torch.sigmoid)}


def _cases() -> dict:
    """id -> (dtype -> Case)."""
    cases = {}
    for name, (cls, ref) in POINTWISE.items():
        cases[name] = lambda d, cls=cls, ref=ref: Case(cls(), _pointwise_input(d), [], [0], ref)
    for approx in ("none", "tanh"):
        cases[f"gelu_{approx}"] = lambda d, a=approx: Case(L.GELU(a), _pointwise_input(d), [], [0],
                                                           lambda x: F.gelu(x, approximate=a))
    cases["batchnorm2d"] = lambda d: Case(L.BatchNorm2D.from_torch(_bn(d)), randn(2, 4, 3, 5, dtype=d), [], [0],
                                          _bn(d))
    for dim, start, length in [(1, 0, 2), (1, 2, 3), (-1, 1, 3), (0, 1, 1)]:
        cases[f"split_{dim}_{start}_{length}"] = lambda d, a=(dim, start, length): Case(
            L.Split(*a), randn(2, 5, 3, 5, dtype=d), [], [0], lambda x: x.narrow(*a))
    for dims in [(0, 2, 3, 1), (0, 3, 1, 2), (3, 2, 1, 0), (0, 1, 2, 3), (1, 0, 2, 3)]:
        cases["permute_" + "".join(map(str, dims))] = lambda d, p=dims: Case(
            L.Permute(p), randn(2, 3, 4, 5, dtype=d), [], [0], lambda x: x.permute(p))
    cases["transpose_rank5"] = lambda d: Case(L.Permute.transpose(1, 2), randn(2, 3, 4, 5, 6, dtype=d), [], [0],
                                              lambda x: x.transpose(1, 2))
    cases["reshape"] = lambda d: Case(L.Reshape([(0, 0), 2, -1]), randn(3, 4, 5, 6, dtype=d), [], [0],
                                      lambda x: x.reshape(3, 2, -1))
    # mean: rows (inner == 1) long and short, columns (inner > 1), everything; an offset
    # that a naive float sum would round away.
    for dims, keep, shape in [((2, 3), False, (2, 3, 4, 5)), ((2, 3), True, (1, 8, 56, 56)),
                              ((1,), False, (2, 3, 4, 5)), ((1, 2), True, (2, 7, 3, 5)),
                              ((0, 1, 2, 3), False, (2, 3, 4, 5))]:
        cases[f"mean_{''.join(map(str, dims))}_{keep}_{shape[2]}"] = lambda d, a=(dims, keep, shape): Case(
            L.Mean(a[0], a[1]), randn(*a[2], dtype=d) + 100, [], [0], lambda x: x.mean(a[0], keepdim=a[1]))
    # layernorm: rows shorter and longer than a work-group, two normalised dims, over channels.
    for shape, norm, affine in [((2, 4, 5, 8), (8,), True), ((2, 4, 5, 8), (5, 8), False),
                                ((3, 300), (300,), True), ((5, 96), (96,), False)]:
        def ln(d, a=(shape, norm, affine)):
            w = randn(*a[1], dtype=d, seed=5) if a[2] else None
            b = randn(*a[1], dtype=d, seed=6) if a[2] else None
            return Case(L.LayerNorm(a[1], w, b, 1e-6), randn(*a[0], dtype=d) * 3 + 1, [], [0],
                        lambda x: F.layer_norm(x, a[1], w, b, 1e-6))
        cases[f"layernorm_{shape[-1]}_{len(norm)}_{affine}"] = ln

    def ln_channels(d):
        w, b = randn(6, dtype=d, seed=5), randn(6, dtype=d, seed=6)
        return Case(L.LayerNorm(6, w, b, 1e-6, over_channels=True), randn(2, 6, 5, 7, dtype=d) * 3 + 1, [], [0],
                    lambda x: F.layer_norm(x.permute(0, 2, 3, 1), (6,), w, b, 1e-6).permute(0, 3, 1, 2))
    cases["layernorm_over_channels"] = ln_channels
    for op, fn in (("add", torch.add), ("mul", torch.mul)):
        for a, b in BROADCAST:
            for order in ([0, 1], [1, 0]):
                cases[f"{op}_{a}_{b}_{order[0]}"] = lambda d, op=op, fn=fn, a=a, b=b, order=order: Case(
                    L.Add() if op == "add" else L.Mul(), randn(*a, dtype=d, seed=1), [randn(*b, dtype=d, seed=2)],
                    order, fn)
    for dim in (0, 1, -1, 2):
        def cat(d, dim=dim):
            xs = []
            for i in range(3):
                s = [2, 3, 4, 5]
                s[dim] = i + 1
                xs.append(randn(*s, dtype=d, seed=i))
            return Case(L.Cat(dim), xs[0], xs[1:], [2, 0, 1], lambda *v: torch.cat(v, dim))
        cases[f"cat_{dim}"] = cat
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
@DT
def test_graph_op_on_device(case, dtype):
    _skip_f64(dtype)
    c = CASES[case](dtype)
    vals = _values(c)
    with torch.no_grad():
        expected = c.ref(*[vals[i] for i in c.order])
    model = on_device_graph(c)
    before = launches()
    with forbid_torch_ops(GRAPH_ATEN):
        a = model(c.x)
    is_view = c.layer.op == "reshape"  # the graph aliases the buffer: nothing to launch
    assert is_view or launches() > before, "no SYCL kernel ran in the Model"
    before = launches()
    b = on_host_pointers(c.layer, [vals[i] for i in c.order])
    assert launches() > before, "no SYCL kernel ran on host pointers"
    assert c.layer.resolved_algorithm == "direct"
    assert_layer_close(a, expected, msg=case)
    assert_layer_close(b, expected, msg=case)


@pytest.mark.parametrize("name", list(POINTWISE) + ["gelu"])
def test_pointwise_in_place_on_host_and_nan(name):
    cls, ref = POINTWISE.get(name, (L.GELU, F.gelu))
    x = _pointwise_input(torch.float32)
    x[0, 3] = float("nan")
    expected = ref(x)
    y = x.clone()
    on_host_pointers(cls(), [y], out=y)
    assert torch.isnan(y[0, 3])
    assert_layer_close(y.nan_to_num(), expected.nan_to_num())


@pytest.mark.parametrize("op", ["add", "mul"])
def test_binary_output_aliases_an_operand(op):
    fn = torch.add if op == "add" else torch.mul
    a, b = randn(2, 3, 4, 5, seed=1), randn(3, 1, 1, seed=2)
    expected = fn(a, b)
    layer = L.Add() if op == "add" else L.Mul()
    # on host memory: the output is the first operand's memory, then the second's
    y = a.clone()
    on_host_pointers(layer, [y, b], out=y)
    assert_layer_close(y, expected)
    y = a.clone()
    on_host_pointers(layer, [b, y], out=y)
    assert_layer_close(y, expected)
    # in a Model on the device: the plan runs the op in place over its dying operand
    model = ai3.Model([L.Sigmoid(), L.Constant(b), layer, L.Hardswish()], inputs=[[0], [], [1, 2], [3]],
                      device=DEVICE)
    plan = model.buffer_plan((2, 3, 4, 5))
    assert plan["slot"][3] == plan["slot"][1], plan
    assert_network_close(model(a), F.hardswish(fn(torch.sigmoid(a), b)))
    # x op x: both operands are the same device buffer
    model = ai3.Model([L.Sigmoid(), layer], inputs=[[0], [1, 1]], device=DEVICE)
    s = torch.sigmoid(a)
    assert_network_close(model(a), fn(s, s))


# ---- whole networks ------------------------------------------------------------------------------

# torchvision classifiers with random weights (test_models.make), batch 2 at 32x32.
SYCL_MODELS = [("resnet18", {}), ("mobilenet_v3_small", {}), ("efficientnet_b0", {}), ("densenet121", {}),
               ("shufflenet_v2_x1_0", {}), ("convnext_tiny", {}),
               ("googlenet", {"aux_logits": False, "init_weights": True}), ("squeezenet1_1", {})]


@pytest.mark.parametrize("name,kw", SYCL_MODELS, ids=[m[0] for m in SYCL_MODELS])
def test_swap_backend_model_on_device(name, kw):
    model = make(name, kw)
    x = randn(2, 3, 32, 32, seed=1)
    with torch.no_grad():
        expected = model(x)
    fast = ai3.swap_backend(model, sample_input_shape=(1, 3, 32, 32), device=DEVICE)
    assert not any(layer.op == "torch" for layer in fast.layers)
    before = launches()
    with forbid_torch_ops(GRAPH_ATEN):
        out = fast(x)
    # Every layer but views (aliased buffers) and constants (copied in) launched a SYCL kernel.
    assert launches() - before >= sum(1 for layer in fast.layers if layer.op not in ("reshape", "flatten", "constant"))
    assert_network_close(out, expected, msg=name)


@pytest.mark.parametrize("name", ["resnet18", "convnext_tiny"])
def test_float64_model_on_device(name):
    _skip_f64(torch.float64)
    model = make(name, {})
    x = randn(1, 3, 32, 32, dtype=torch.float64, seed=3)
    with torch.no_grad():
        expected = copy.deepcopy(model).double()(x)
    fast = ai3.swap_backend(model, sample_input_shape=(1, 3, 32, 32), dtype=torch.float64, device=DEVICE)
    out = fast(x)
    assert out.dtype == torch.float64
    assert_network_close(out, expected, msg=name)
    assert (out - expected).abs().max() <= 1e-9 * expected.abs().max()


def test_batchnorm_folded_and_standalone_on_device():
    fast = ai3.swap_backend(make("resnet18", {}), device=DEVICE)
    assert "batchnorm2d" not in [layer.op for layer in fast.layers]
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4)).eval()
    with torch.no_grad():
        model[2].running_mean.uniform_(-1, 1)
        model[2].running_var.uniform_(0.5, 2)
    fast = ai3.swap_backend(model, device=DEVICE)
    assert [layer.op for layer in fast.layers] == ["conv2d", "relu", "batchnorm2d"]
    x = randn(2, 3, 9, 9)
    with torch.no_grad():
        assert_network_close(fast(x), model(x))


def test_swap_conv2d_model_on_device():
    model = make("mobilenet_v3_small", {})
    x = randn(2, 3, 32, 32, seed=2)
    with torch.no_grad():
        expected = model(x)
        swapped = copy.deepcopy(model)
        ai3.swap_conv2d(swapped, device=DEVICE)
        before = launches()
        with forbid_torch_ops(require=("ai3::conv2d",)):
            out = swapped(x)
    assert launches() > before
    assert_network_close(out, expected)


class _TorchNode(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.Tanh()

    def forward(self, x):
        return F.relu(self.act(self.conv(x)) + x.mean(1, keepdim=True))


@DT
def test_unsupported_torch_node_on_device(dtype):
    _skip_f64(dtype)
    m = _TorchNode().to(dtype).eval()
    x = randn(2, 3, 8, 8, dtype=dtype)
    with torch.no_grad():
        expected = m(x)
    fast = ai3.swap_backend(m, unsupported="torch", device=DEVICE)
    assert [layer.op for layer in fast.layers] == ["conv2d", "torch", "mean", "add", "relu"]
    with forbid_torch_ops(("aten::convolution", "aten::add", "aten::relu", "aten::mean"), require=("aten::tanh",)):
        out = fast(x)
    assert_network_close(out, expected)


# ---- bad input ------------------------------------------------------------------------------------

def test_bad_input_errors_on_device():
    model = ai3.Model([L.Constant(randn(3, 4)), L.Add()], inputs=[[], [0, 1]], device=DEVICE)
    with pytest.raises(ai3.InvalidInputError, match="broadcast|shape"):
        model(randn(2, 5))
    ln = ai3.Model([L.LayerNorm(8)], inputs=[[0]], device=DEVICE)
    with pytest.raises(ai3.InvalidInputError):
        ln(randn(2, 7))
    with pytest.raises(ai3.InvalidInputError):
        on_host_pointers(L.Cat(1), [randn(2, 3), randn(3, 3)])
    with pytest.raises(ai3.DTypeError):
        ai3.Model([L.LayerNorm(4, randn(4))], inputs=[[0]], device=DEVICE)(randn(2, 4, dtype=torch.float64))


def test_float64_refused_clearly_without_fp64():
    if _fp64():
        pytest.skip(f"{DEVICE} has fp64")
    with pytest.raises(ai3.UnsupportedError, match="fp64"):
        ai3.Model([L.SiLU()], inputs=[[0]], device=DEVICE)(torch.zeros(3, dtype=torch.float64))
