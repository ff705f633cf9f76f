"""The graph form's operations one by one against torch, the graph Model API, the
buffer plan, swap_backend's unsupported= handling and errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ai3
from ai3 import layers as L

from helpers import DTYPES, assert_layer_close, assert_network_close, dtype_id, forbid_torch_ops, randn

DT = pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)


# ---- op by op ------------------------------------------------------------------------------------

BROADCAST = [((2, 3, 4, 5), (2, 3, 4, 5)), ((2, 3, 4, 5), (2, 3, 1, 1)), ((3, 1, 1), (2, 3, 4, 5)),
             ((4,), (1,)), ((2, 1, 5), (1, 4, 1)), ((2, 3, 4, 5), ()), ((1, 6), (5, 1))]


@DT
@pytest.mark.parametrize("a,b", BROADCAST, ids=str)
@pytest.mark.parametrize("op", ["add", "mul"])
def test_binary_broadcasting(op, a, b, dtype):
    x, y = randn(*a, dtype=dtype, seed=1), randn(*b, dtype=dtype, seed=2)
    layer = L.Add() if op == "add" else L.Mul()
    out = layer(x, y)
    assert_layer_close(out, x + y if op == "add" else x * y)
    assert layer.out_shape(a, b) == torch.broadcast_shapes(a, b)


@DT
@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_cat(dim, dtype):
    shapes = [(2, 3, 4, 5)] * 3
    xs = []
    for i, s in enumerate(shapes):
        s = list(s)
        s[dim] = i + 1
        xs.append(randn(*s, dtype=dtype, seed=i))
    assert_layer_close(L.Cat(dim)(*xs), torch.cat(xs, dim))


@DT
@pytest.mark.parametrize("dim,start,length", [(1, 0, 2), (1, 2, 3), (-1, 1, 3), (0, 1, 1), (3, 0, 5)])
def test_split(dim, start, length, dtype):
    x = randn(2, 5, 3, 5, dtype=dtype)
    assert_layer_close(L.Split(dim, start, length)(x), x.narrow(dim, start, length))


@DT
@pytest.mark.parametrize("dims", [(0, 2, 3, 1), (0, 3, 1, 2), (3, 2, 1, 0), (0, 1, 2, 3)])
def test_permute(dims, dtype):
    x = randn(2, 3, 4, 5, dtype=dtype)
    assert_layer_close(L.Permute(dims)(x), x.permute(dims).contiguous())


@DT
def test_transpose_any_rank(dtype):
    x = randn(2, 3, 4, 5, 6, dtype=dtype)
    assert_layer_close(L.Permute.transpose(1, 2)(x), x.transpose(1, 2).contiguous())
    y = randn(3, 7, dtype=dtype)
    assert_layer_close(L.Permute.transpose(0, -1)(y), y.t().contiguous())


@DT
def test_reshape_follows_input_dims(dtype):
    x = randn(3, 4, 5, 6, dtype=dtype)
    layer = L.Reshape([(0, 0), 2, 2, -1])  # view(x.size(0), 2, 2, -1)
    assert_layer_close(layer(x), x.view(3, 2, 2, -1))
    assert layer.out_shape((7, 4, 5, 6)) == (7, 2, 2, 30)
    with pytest.raises(ai3.InvalidInputError, match="reshape"):
        layer.out_shape((3, 5, 5, 6))


@DT
@pytest.mark.parametrize("dims,keepdim", [((2, 3), False), ((2, 3), True), ((-1, -2), True), ((1,), False),
                                          ((0, 1, 2, 3), False)])
def test_mean(dims, keepdim, dtype):
    x = randn(2, 3, 4, 5, dtype=dtype)
    assert_layer_close(L.Mean(dims, keepdim)(x), x.mean(dims, keepdim=keepdim))


@DT
@pytest.mark.parametrize("shape,norm", [((2, 4, 5, 8), (8,)), ((2, 4, 5, 8), (5, 8)), ((3, 16), (16,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm(shape, norm, affine, dtype):
    x = randn(*shape, dtype=dtype) * 3 + 1
    w = randn(*norm, dtype=dtype, seed=5) if affine else None
    b = randn(*norm, dtype=dtype, seed=6) if affine else None
    assert_layer_close(L.LayerNorm(norm, w, b, 1e-6)(x), F.layer_norm(x, norm, w, b, 1e-6))


@DT
@pytest.mark.parametrize("shape", [(2, 4, 3, 5), (4, 3, 5)])
def test_batchnorm2d(shape, dtype):
    bn = nn.BatchNorm2d(4).to(dtype).eval()
    with torch.no_grad():
        bn.running_mean.copy_(randn(4, dtype=dtype, seed=7))
        bn.running_var.copy_(randn(4, dtype=dtype, seed=8).abs() + 0.1)
        bn.weight.copy_(randn(4, dtype=dtype, seed=9))
        bn.bias.copy_(randn(4, dtype=dtype, seed=10))
    x = randn(*shape, dtype=dtype)
    with torch.no_grad():
        expected = bn(x.unsqueeze(0)).squeeze(0) if len(shape) == 3 else bn(x)
    assert_layer_close(L.BatchNorm2D.from_torch(bn)(x), expected)


POINTWISE = [(L.ReLU6, F.relu6), (L.Hardswish, F.hardswish), (L.Hardsigmoid, F.hardsigmoid), (L.SiLU, F.silu),
             (L.Sigmoid, torch.sigmoid)]


@DT
@pytest.mark.parametrize("cls,ref", POINTWISE, ids=[c.__name__ for c, _ in POINTWISE])
def test_pointwise(cls, ref, dtype):
    x = torch.cat([torch.linspace(-8, 8, 161, dtype=dtype), randn(3, 50, dtype=dtype).flatten() * 4,
                   torch.tensor([-100.0, 100.0, -3.0, 3.0, 0.0, 6.0], dtype=dtype)])
    assert_layer_close(cls()(x), ref(x))


@DT
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(approximate, dtype):
    x = torch.linspace(-8, 8, 1001, dtype=dtype)
    assert_layer_close(L.GELU(approximate)(x), F.gelu(x, approximate=approximate))


def test_numpy_inputs_work_for_multi_input_layers():
    a, b = np.ones((2, 3), np.float32), np.full((3,), 2, np.float32)
    out = L.Add()(a, b)
    assert isinstance(out, np.ndarray) and np.allclose(out, 3)


# ---- errors -----------------------------------------------------------------------------------------

def test_op_errors():
    with pytest.raises(ai3.InvalidInputError, match="broadcast"):
        L.Add()(torch.ones(2, 3), torch.ones(4))
    with pytest.raises(ai3.InvalidInputError, match="cat"):
        L.Cat(1)(torch.ones(2, 3, 4), torch.ones(3, 3, 4))
    with pytest.raises(ai3.InvalidInputError, match="contiguous block"):
        L.Mean((1, 3))(torch.ones(2, 3, 4, 5))
    with pytest.raises(ai3.InvalidInputError, match="batchnorm2d"):
        L.BatchNorm2D(torch.zeros(3), torch.ones(3))(torch.ones(2, 3))  # wrong rank
    with pytest.raises(ai3.InvalidInputError, match="channels"):
        L.BatchNorm2D(torch.zeros(3), torch.ones(3))(torch.ones(1, 4, 2, 2))
    with pytest.raises(ai3.InvalidInputError, match="layernorm"):
        L.LayerNorm((4,))(torch.ones(2, 5))
    with pytest.raises(ai3.InvalidInputError, match="split"):
        L.Split(1, 2, 3)(torch.ones(2, 4))
    with pytest.raises(ai3.InvalidInputError, match="permute"):
        L.Permute((0, 0, 1))(torch.ones(2, 3, 4))
    with pytest.raises(ai3.InvalidInputError, match="approximate"):
        L.GELU("fast")
    with pytest.raises(ai3.DTypeError):
        L.Add()(torch.ones(2), torch.ones(2, dtype=torch.float64))
    with pytest.raises(ai3.DTypeError):
        L.Add()(torch.ones(2, dtype=torch.int32), torch.ones(2, dtype=torch.int32))


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.act = nn.Tanh()

    def forward(self, x):
        y = self.bn(self.conv(x))
        return F.relu(self.act(y) + x)


def test_unsupported_node_is_named():
    with pytest.raises(ai3.UnsupportedError) as ei:
        ai3.swap_backend(Residual())
    msg = str(ei.value)
    assert "'act'" in msg and "torch.nn.modules.activation.Tanh" in msg and "unsupported='torch'" in msg, msg


class TorchOnly(nn.Module):
    def forward(self, x):
        return torch.tanh(x) * 2 + torch.logsumexp(x, dim=1, keepdim=True)


@DT
def test_unsupported_torch_runs_inside_the_graph(dtype):
    m = Residual().to(dtype).eval()
    x = randn(2, 3, 8, 8, dtype=dtype)
    with torch.no_grad():
        expected = m(x)
    fast = ai3.swap_backend(m, unsupported="torch")
    assert [layer.op for layer in fast.layers] == ["conv2d", "torch", "add", "relu"]
    with forbid_torch_ops(("aten::convolution", "aten::add", "aten::relu"), require=("aten::tanh",)):
        out = fast(x)
    assert_network_close(out, expected)
    fn = TorchOnly()
    fast2 = ai3.swap_backend(fn, unsupported="torch", dtype=dtype)
    assert_network_close(fast2(x), fn(x))


def test_unsupported_argument_checked():
    with pytest.raises(ai3.InvalidInputError, match="unsupported"):
        ai3.swap_backend(Residual(), unsupported="skip")


def test_model_dtype_and_rank_errors():
    fast = ai3.swap_backend(Residual().eval(), unsupported="torch")
    with pytest.raises(ai3.DTypeError):
        fast(torch.ones(1, 3, 8, 8, dtype=torch.float64))
    with pytest.raises(ai3.InvalidInputError, match="conv2d"):
        fast(torch.ones(3, 8))


def test_size_arithmetic_needs_a_sample_shape():
    import torchvision

    with pytest.raises(ai3.InvalidInputError, match="sample_input_shape"):
        ai3.swap_backend(torchvision.models.shufflenet_v2_x0_5())


# ---- the graph form of ai3.Model ----------------------------------------------------------------------

def _diamond():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    layers = [L.Conv2D.from_torch(conv), L.ReLU(), L.Sigmoid(), L.Mul(), L.Add(), L.Cat(1)]
    # values: 0 x, 1 conv, 2 relu(conv), 3 sigmoid(conv), 4 relu*sig, 5 4+conv, 6 cat(5, 1)
    inputs = [[0], [1], [1], [2, 3], [4, 1], [5, 1]]
    return conv, layers, inputs


def test_graph_model_by_hand():
    conv, layers, inputs = _diamond()
    model = ai3.Model(layers, inputs=inputs)
    x = randn(2, 3, 6, 6)
    with torch.no_grad():
        c = conv(x)
        expected = torch.cat([F.relu(c) * torch.sigmoid(c) + c, c], 1)
    assert model.out_shape((2, 3, 6, 6)) == (2, 8, 6, 6)
    assert_network_close(model(x), expected)
    assert_network_close(model.predict(x, out_type=torch.Tensor), expected)
    # output= picks another value
    assert_network_close(ai3.Model(layers, inputs=inputs, output=1)(x), c)
    assert "<- [2, 3]" in repr(model)


def test_graph_model_rejects_bad_graphs():
    _, layers, inputs = _diamond()
    with pytest.raises(ai3.InvalidInputError, match="topological"):
        ai3.Model(layers, inputs=[[0], [2], [1], [2, 3], [4, 1], [5, 1]])
    with pytest.raises(ai3.InvalidInputError, match="takes 2 inputs"):
        ai3.Model(layers, inputs=[[0], [1], [1], [2], [4, 1], [5, 1]])
    with pytest.raises(ai3.InvalidInputError, match="output"):
        ai3.Model(layers, inputs=inputs, output=9)
    with pytest.raises(ai3.InvalidInputError):
        ai3.Model(layers, inputs=[[0]])


def test_buffer_plan_reuses_dead_buffers_and_works_in_place():
    layers = [L.ReLU(), L.Sigmoid(), L.ReLU6(), L.Flatten(1), L.Hardswish()]
    model = ai3.Model(layers, inputs=[[0], [1], [2], [3], [4]])
    plan = model.buffer_plan((2, 3, 4, 4))
    assert plan["slot"][0] == -1  # the caller's input is never written
    assert len(plan["slot_bytes"]) == 1 and plan["slot_bytes"][0] == 2 * 3 * 16 * 4
    x = randn(2, 3, 4, 4)
    before = x.clone()
    assert_network_close(model(x), F.hardswish(F.relu6(torch.sigmoid(F.relu(x))).flatten(1)))
    assert torch.equal(x, before)


def test_buffer_plan_keeps_live_values():
    conv, layers, inputs = _diamond()
    plan = ai3.Model(layers, inputs=inputs).buffer_plan((1, 3, 6, 6))
    slot = plan["slot"]
    # conv's output (1) is read by the add and the cat at the end: nothing else may use its buffer
    assert all(slot[v] != slot[1] for v in (2, 3, 4, 5, 6))
    assert slot[4] in (slot[2], slot[3])  # the mul overwrites one of its dying inputs


def test_chain_form_is_unchanged():
    model = ai3.Model([L.ReLU(), L.Flatten(1)])
    assert model.inputs is None
    x = randn(2, 3, 4, 4)
    assert_network_close(model(x), F.relu(x).flatten(1))


class SE(nn.Module):
    """Squeeze-excitation with functional ops, mean and a layer scale (get_attr)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Conv2d(4, 4, 1)
        self.scale = nn.Parameter(torch.rand(4, 1, 1) + 0.5)
        self.ln = nn.LayerNorm(4)

    def forward(self, x):
        y = self.conv(x)
        g = torch.sigmoid(self.fc(y.mean((2, 3), keepdim=True)))
        y = y * g * self.scale
        y = self.ln(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # LayerNorm2d: over the channels
        y = y.transpose(2, 3) + F.layer_norm(y.permute(0, 3, 2, 1), (4,)).permute(0, 3, 2, 1)
        a, b = y.chunk(2, dim=1)
        z = torch.cat([F.gelu(b, approximate="tanh"), F.silu(a)], 1)
        n = x.size(0)
        return z.reshape(n, -1) + 1.0


@DT
def test_functional_graph_ops_through_swap_backend(dtype):
    m = SE().to(dtype).eval()
    x = randn(3, 4, 5, 5, dtype=dtype)
    with torch.no_grad():
        expected = m(x)
    fast = ai3.swap_backend(m, sample_input_shape=(1, 4, 5, 5))
    ops = [layer.op for layer in fast.layers]
    for op in ("mean", "sigmoid", "mul", "constant", "layernorm", "permute", "split", "gelu", "silu", "cat",
               "reshape", "add"):
        assert op in ops, (op, ops)
    assert [layer.over_channels for layer in fast.layers if layer.op == "layernorm"] == [True, False]
    assert_network_close(fast(x), expected)


@DT
@pytest.mark.parametrize("shape", [(2, 8, 5, 7), (1, 3, 300), (2, 6, 1, 1)])
def test_layernorm_over_channels(shape, dtype):
    x = randn(*shape, dtype=dtype) * 2 + 0.5
    c = shape[1]
    w, b = randn(c, dtype=dtype, seed=5), randn(c, dtype=dtype, seed=6)
    perm = (0,) + tuple(range(2, len(shape))) + (1,)
    back = (0, len(shape) - 1) + tuple(range(1, len(shape) - 1))
    expected = F.layer_norm(x.permute(perm), (c,), w, b, 1e-6).permute(back)
    assert_layer_close(L.LayerNorm(c, w, b, 1e-6, over_channels=True)(x), expected)
    with pytest.raises(ai3.InvalidInputError, match="channels"):
        L.LayerNorm(c + 1, over_channels=True)(x)


def test_convnext_layernorm2d_runs_over_channels():
    import torchvision

    m = torchvision.models.convnext_tiny().eval()
    fast = ai3.swap_backend(m, sample_input_shape=(1, 3, 32, 32))
    lns = [layer for layer in fast.layers if layer.op == "layernorm"]
    # stem, 3 downsamplings and the classifier's LayerNorm2d run over channels (no permutes);
    # the 18 blocks' channels-last LayerNorms keep their permutes (a Linear follows them).
    assert sum(layer.over_channels for layer in lns) == 5 and len(lns) == 23
    assert sum(layer.op == "permute" for layer in fast.layers) == 36
    x = randn(1, 3, 32, 32)
    with torch.no_grad():
        assert_network_close(fast(x), m(x))


class ActiveDropout(nn.Module):
    def forward(self, x):
        return F.relu(F.dropout(x, 0.5))  # training=True by default: active even in eval mode


def test_active_dropout_is_not_dropped():
    with pytest.raises(ai3.UnsupportedError, match="dropout"):
        ai3.swap_backend(ActiveDropout())


def test_unsupported_tensor_method_runs_through_torch():
    # A call_method node (x.tanh(), y.sum(dim)) runs its own method, with its arguments.
    class Methods(nn.Module):
        def forward(self, x):
            return x.tanh().sum(dim=1, keepdim=True) + x

    m = Methods().eval()
    x = randn(2, 3, 4, 5)
    fast = ai3.swap_backend(m, unsupported="torch")
    assert [layer.op for layer in fast.layers].count("torch") == 2
    assert_network_close(fast(x), m(x))
