"""ai3.layers other than conv2d (linear, pooling, relu, flatten) against torch.

Each layer runs four ways: ``layer(torch)``, ``layer(numpy)``, ``ai3.Model([layer])(torch)`` and
``ai3.Model([layer]).predict(numpy)``; all under a dispatch mode that fails if torch computes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ai3
from ai3 import layers as L

from helpers import CONV_IMPLEMENTED, DTYPES, MODEL_ATEN, assert_layer_close, dtype_id, forbid_torch_ops, randn


def check_all_ways(layer: L.Layer, x: torch.Tensor, expected: torch.Tensor) -> None:
    x_before = x.clone()
    with forbid_torch_ops(MODEL_ATEN):
        out_t = layer(x)
        out_n = layer(x.numpy())
        model = ai3.Model([layer])
        out_mt = model(x)
        out_mp = model.predict(x.numpy())
        out_mn = model(x.numpy())
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == x.dtype
    assert isinstance(out_n, np.ndarray) and out_n.dtype == x.numpy().dtype
    assert isinstance(out_mt, torch.Tensor)
    assert isinstance(out_mp, ai3.Tensor)
    assert isinstance(out_mn, np.ndarray)
    for out in (out_t, out_n, out_mt, out_mp, out_mn):
        assert_layer_close(out, expected)
    assert torch.equal(x, x_before), "the layer modified its input"
    if x.numel():
        assert layer.resolved_algorithm == "direct"


# ---- linear ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("lead", [(), (1,), (5,), (2, 3), (2, 1, 4), (0,), (3, 0)], ids=str)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("algo", ["direct", "default"])
def test_linear(lead, bias, dtype, algo):
    ref = nn.Linear(13, 7, bias=bias).to(dtype)
    x = randn(*lead, 13, dtype=dtype)
    with torch.no_grad():
        expected = ref(x)
    layer = L.Linear(ref.weight, ref.bias, algorithm=algo)
    assert layer.algorithm == algo and layer.dtype == dtype_id(dtype)
    check_all_ways(layer, x, expected)
    assert_layer_close(L.Linear.from_torch(ref, algo)(x), expected)


@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (64, 300), (4, 257)], ids=str)
def test_linear_sizes(shape):
    out_f, in_f = shape
    ref = nn.Linear(in_f, out_f)
    x = randn(5, in_f)
    with torch.no_grad():
        expected = ref(x)
    check_all_ways(L.Linear.from_torch(ref), x, expected)


def test_linear_numpy_and_list_parameters():
    w = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    layer = L.Linear(w, [0.5, -1.0])
    assert layer.dtype == "float64"
    x = randn(4, 3, dtype=torch.float64)
    expected = F.linear(x, torch.from_numpy(w), torch.tensor([0.5, -1.0], dtype=torch.float64))
    assert_layer_close(layer(x), expected)


def test_linear_dtype_argument_converts_parameters():
    ref = nn.Linear(4, 3)
    layer = L.Linear.from_torch(ref, dtype=torch.float64)
    assert layer.dtype == "float64"
    x = randn(2, 4, dtype=torch.float64)
    with torch.no_grad():
        expected = ref.double()(x)
    assert_layer_close(layer(x), expected)


# ---- maxpool2d -----------------------------------------------------------------------------------

MAXPOOL = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2),
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)),
    dict(kernel_size=3, stride=2, padding=1, dilation=2),
    dict(kernel_size=(3, 2), stride=2, dilation=(1, 2)),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=2, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=3, padding=1, dilation=2, ceil_mode=True),
    dict(kernel_size=5, stride=1, padding=2),
    dict(kernel_size=1, stride=1),
    dict(kernel_size=4, stride=(3, 1), padding=2, ceil_mode=True),
]


@pytest.mark.parametrize("kw", MAXPOOL, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("shape", [(2, 3, 9, 10), (3, 7, 8), (1, 1, 5, 5)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_maxpool2d(kw, shape, dtype):
    x = randn(*shape, dtype=dtype)
    ref = nn.MaxPool2d(**kw)
    expected = ref(x)
    check_all_ways(L.MaxPool2D(**kw), x, expected)
    check_all_ways(L.MaxPool2D.from_torch(ref), x, expected)


def test_maxpool2d_negative_inputs_and_padding():
    """Padding must act as -inf, not 0: an all-negative input shows the difference."""
    x = -randn(1, 2, 5, 5).abs() - 1
    kw = dict(kernel_size=3, stride=2, padding=1)
    check_all_ways(L.MaxPool2D(**kw), x, F.max_pool2d(x, **kw))


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=1, dilation=2)],
                         ids=["3x3 s2 p1", "2x2 s1 d2"])
def test_maxpool2d_nan_wins_like_torch(kw):
    x = randn(1, 2, 9, 9)
    x[0, 0, 0, 0] = x[0, 1, 4, 7] = x[0, 1, 8, 8] = float("nan")
    got, expected = L.MaxPool2D(**kw)(x), F.max_pool2d(x, **kw)
    assert torch.equal(torch.isnan(got), torch.isnan(expected)) and torch.isnan(expected).any()
    torch.testing.assert_close(got, expected, equal_nan=True)


def test_maxpool2d_infinities():
    x = randn(1, 1, 4, 4)
    x[0, 0, 0, 0] = float("inf")
    x[0, 0, 3, 3] = float("-inf")
    assert torch.equal(L.MaxPool2D(2)(x), F.max_pool2d(x, 2))


# ---- avgpool2d -----------------------------------------------------------------------------------

AVGPOOL = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2),
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=3, stride=1, padding=1, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, stride=2, divisor_override=3),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=2),
    dict(kernel_size=3, padding=1, count_include_pad=False, divisor_override=5),
    dict(kernel_size=4, stride=(3, 1), padding=2, ceil_mode=True),
]


@pytest.mark.parametrize("kw", AVGPOOL, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("shape", [(2, 3, 9, 10), (3, 7, 8), (1, 1, 5, 5)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_avgpool2d(kw, shape, dtype):
    x = randn(*shape, dtype=dtype)
    ref = nn.AvgPool2d(**kw)
    expected = ref(x)
    check_all_ways(L.AvgPool2D(**kw), x, expected)
    check_all_ways(L.AvgPool2D.from_torch(ref), x, expected)


# ---- adaptiveavgpool2d ---------------------------------------------------------------------------

@pytest.mark.parametrize("out", [1, 2, 3, 7, (2, 5), (4, None), (None, 3), None, (9, 10), (12, 13), (1, 20)], ids=str)
@pytest.mark.parametrize("shape", [(2, 3, 9, 10), (3, 7, 8), (1, 2, 1, 1)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_adaptiveavgpool2d(out, shape, dtype):
    x = randn(*shape, dtype=dtype)
    ref = nn.AdaptiveAvgPool2d((None, None) if out is None else out)  # torch wants a pair for None
    expected = ref(x)
    check_all_ways(L.AdaptiveAvgPool2D(out), x, expected)
    check_all_ways(L.AdaptiveAvgPool2D.from_torch(ref), x, expected)


# ---- relu -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (7,), (3, 4), (0, 3), (), (2, 1, 1, 1, 3)], ids=repr)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_relu(shape, dtype):
    x = randn(*shape, dtype=dtype)
    expected = F.relu(x)
    check_all_ways(L.ReLU(), x, expected)


def test_relu_never_modifies_callers_input():
    x = randn(2, 3, 4, 4)
    xn = x.numpy().copy()
    before, before_n = x.clone(), xn.copy()
    relu = L.ReLU()
    relu(x)
    relu(xn)
    ai3.Model([relu])(x)
    ai3.Model([relu]).predict(xn)
    # a chain ending and starting with ReLU (where in-place reuse is most tempting)
    ai3.Model([L.ReLU(), L.Flatten(), L.ReLU()])(x)
    assert torch.equal(x, before)
    assert np.array_equal(xn, before_n)


def test_relu_special_values():
    x = torch.tensor([-0.0, 0.0, -1e-30, 1e-30, float("inf"), float("-inf"), -5.0, 5.0])
    out = L.ReLU()(x)
    assert torch.equal(out, F.relu(x))
    nan = L.ReLU()(torch.tensor([float("nan")]))
    assert torch.isnan(nan).all(), "ReLU must propagate NaN like torch"


# ---- flatten --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dims", [(0, -1), (1, -1), (1, 2), (2, 3), (-3, -2), (-1, -1), (0, 0), (-4, 1), (3, 3),
                                  (1, -3)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_flatten(dims, dtype):
    x = randn(2, 3, 4, 5, dtype=dtype)
    expected = torch.flatten(x, *dims)
    check_all_ways(L.Flatten(*dims), x, expected)
    check_all_ways(L.Flatten.from_torch(nn.Flatten(*dims)), x, expected)


@pytest.mark.parametrize("shape,dims", [((6,), (0, -1)), ((3, 4), (-2, -1)), ((2, 0, 3), (1, 2)),
                                        ((2, 3, 4), (0, 1))], ids=str)
def test_flatten_other_ranks(shape, dims):
    x = randn(*shape)
    check_all_ways(L.Flatten(*dims), x, torch.flatten(x, *dims))


def test_flatten_default_is_nn_flatten():
    x = randn(2, 3, 4)
    assert_layer_close(L.Flatten()(x), nn.Flatten()(x))


# ---- chains of layers in one Model --------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_model_chain_of_every_layer(dtype):
    torch_model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(8, 8, 3, groups=2, padding=1), nn.ReLU(),
        nn.AvgPool2d(3, 1, 1, count_include_pad=False), nn.AdaptiveAvgPool2d((3, None)),
        nn.Flatten(), nn.Linear(8 * 3 * 5, 10), nn.ReLU(), nn.Linear(10, 4),
    ).to(dtype)
    layers = [type_map(m) for m in torch_model]
    model = ai3.Model(layers)
    assert model.dtype == dtype_id(dtype)
    x = randn(2, 3, 11, 9, dtype=dtype)
    with torch.no_grad():
        expected = torch_model(x)
    with forbid_torch_ops(MODEL_ATEN):
        out = model(x)
    assert_layer_close(out, expected)
    assert model.out_shape(tuple(x.shape)) == tuple(expected.shape)
    for prev, layer in zip([None] + model.layers[:-1], model.layers):
        if not isinstance(layer, L.Flatten):  # a Flatten inside a Model is a view: it does not run a kernel
            expected_algos = CONV_IMPLEMENTED if layer.op == "conv2d" else ("direct",)
            if layer.op == "relu" and prev is not None and prev.op == "conv2d":
                expected_algos = ("fused",)  # a conv's epilogue applied it: the output was written once
            assert layer.resolved_algorithm in expected_algos, (layer, layer.resolved_algorithm)


@pytest.mark.parametrize("act", ["relu", "relu6"])
@pytest.mark.parametrize("relu_algorithm", ["default", "direct"])
@pytest.mark.parametrize("algorithm", CONV_IMPLEMENTED)
def test_model_fuses_conv_and_relu(algorithm, relu_algorithm, act):
    # A negative bias makes the ReLU clip about half the outputs, so a missing or misplaced ReLU shows;
    # large weights push others above 6, so ReLU6's upper clamp shows too.
    torch_act, ai3_act = (nn.ReLU, L.ReLU) if act == "relu" else (nn.ReLU6, L.ReLU6)
    torch_model = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), torch_act(), nn.Conv2d(6, 5, 1), torch_act())
    with torch.no_grad():
        torch_model[0].bias.fill_(-0.2)
        for conv in (torch_model[0], torch_model[2]):
            conv.weight.mul_(8)
    x = randn(2, 4, 7, 9)
    expected = torch_model(x)
    layers = [L.Conv2D.from_torch(torch_model[0], algorithm=algorithm), ai3_act(algorithm=relu_algorithm),
              L.Conv2D.from_torch(torch_model[2], algorithm=algorithm), ai3_act(algorithm=relu_algorithm)]
    model = ai3.Model(layers)
    if algorithm == "winograd":
        with pytest.raises(NotImplementedError, match="winograd"):  # the 1x1 conv
            model(x)
        return
    with forbid_torch_ops(MODEL_ATEN):
        out = model(x)
    assert_layer_close(out, expected)
    assert (expected == 0).any()
    assert act == "relu" or (expected == 6).any()
    want = "fused" if relu_algorithm == "default" else "direct"
    assert [layers[1].resolved_algorithm, layers[3].resolved_algorithm] == [want, want]



def type_map(m: nn.Module) -> L.Layer:
    table = {nn.Conv2d: L.Conv2D, nn.ReLU: L.ReLU, nn.MaxPool2d: L.MaxPool2D, nn.AvgPool2d: L.AvgPool2D,
             nn.AdaptiveAvgPool2d: L.AdaptiveAvgPool2D, nn.Flatten: L.Flatten, nn.Linear: L.Linear}
    return table[type(m)].from_torch(m)


def test_empty_model_is_identity():
    x = randn(2, 3)
    out = ai3.Model([])(x)
    assert torch.equal(out, x)
    assert out.data_ptr() != x.data_ptr()


def test_layer_out_shape_matches_torch():
    x = randn(2, 3, 9, 10)
    expected = tuple(F.max_pool2d(x, 3, 2, 1, ceil_mode=True).shape)
    assert L.MaxPool2D(3, 2, 1, ceil_mode=True).out_shape(x.shape) == expected
    assert L.AdaptiveAvgPool2D((4, None)).out_shape(x.shape) == (2, 3, 4, 10)
    assert L.Flatten(1, 2).out_shape(x.shape) == (2, 27, 10)
    assert L.Linear(torch.zeros(4, 10)).out_shape((5, 2, 10)) == (5, 2, 4)


def test_graph_fuses_conv_and_relu_only_where_it_is_safe():
    # swap_backend's graph: BN folds into the conv, then the ReLU that is the conv's only
    # reader runs in its epilogue. A conv output read twice (by a ReLU and the residual add)
    # keeps its own ReLU, or the add would see clipped values.
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.bn = nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6)
            self.c2 = nn.Conv2d(6, 6, 3, padding=1)

        def forward(self, x):
            y = torch.relu(self.bn(self.c1(x)))
            z = self.c2(y)
            return torch.relu(z) + z

    net = Net().eval()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-1, 1)
        net.c2.bias.fill_(-0.2)
    x = randn(2, 3, 9, 7)
    expected = net(x).detach()
    model = ai3.swap_backend(net)
    with forbid_torch_ops(MODEL_ATEN):
        out = model(x)
    assert_layer_close(out, expected)
    ops = [(layer.op, layer.resolved_algorithm) for layer in model.layers]
    assert ops[:2] == [("conv2d", ops[0][1]), ("relu", "fused")], ops
    assert ("relu", "direct") in ops[2:], ops  # z has two readers: its ReLU ran on its own


@pytest.mark.parametrize("algorithm", CONV_IMPLEMENTED)
def test_graph_fuses_conv_and_relu6(algorithm):
    # MobileNet's pattern: conv, BN (folded), ReLU6 with the conv's output read once.
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
                        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU6()).eval()
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(6)
                m.bias.fill_(-0.5)
    x = randn(2, 3, 9, 7)
    expected = net(x).detach()
    model = ai3.swap_backend(net, {"conv2d": algorithm})
    with forbid_torch_ops(MODEL_ATEN):
        out = model(x)
    assert_layer_close(out, expected)
    assert (expected == 0).any() and (expected == 6).any()
    ops = [(layer.op, layer.resolved_algorithm) for layer in model.layers]
    assert [o for o in ops if o[0] == "relu6"] == [("relu6", "fused")] * 2, ops


@pytest.mark.parametrize("form", ["chain", "graph"])
def test_model_profile_times_each_layer(form):
    torch_model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                nn.Linear(8 * 8 * 8, 5))
    x = randn(2, 3, 16, 16)
    expected = torch_model(x).detach()
    if form == "chain":
        model = ai3.Model([type_map(m) for m in torch_model])
    else:
        model = ai3.swap_backend(torch_model)
        assert model.inputs is not None
    prof = model.profile(x, repeats=3)
    assert [p["index"] for p in prof] == list(range(len(model.layers)))
    assert [p["op"] for p in prof] == [layer.op for layer in model.layers]
    by_op = {p["op"]: p for p in prof}
    assert by_op["relu"]["algorithm"] == "fused" and by_op["relu"]["ms"] == 0.0  # the conv applied it
    assert by_op["flatten"]["ms"] == 0.0  # a view: no kernel ran
    for op in ("conv2d", "maxpool2d", "linear"):
        assert by_op[op]["ms"] > 0.0, prof
    assert by_op["conv2d"]["algorithm"] in CONV_IMPLEMENTED
    # profiling is switched off again and changes no result
    assert_layer_close(model(x), expected)
    with pytest.raises(ValueError, match="repeats"):
        model.profile(x, repeats=0)




@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("hw", [(16, 16), (13, 10), (9, 7), (12, 22)])
@pytest.mark.parametrize("form", ["chain", "graph"])
@pytest.mark.parametrize("act", [nn.ReLU, nn.ReLU6, None])
def test_conv_relu_maxpool_fused_under_winograd(form, hw, act, dtype):
    # VGG's conv, ReLU, MaxPool2d(2, 2): with winograd the conv writes the pooled output
    # itself (odd sizes drop the last row/column, as torch's floor mode does).
    layers_t = [nn.Conv2d(3, 8, 3, padding=1)] + ([act()] if act else []) + [nn.MaxPool2d(2)]
    net = nn.Sequential(*layers_t, nn.Conv2d(8, 6, 3, padding=1), *([act()] if act else []), nn.MaxPool2d(2, 2))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(4)
                m.bias.fill_(-0.1)
    net = net.to(dtype).eval()
    x = randn(2, 3, *hw, dtype=dtype)
    expected = net(x).detach()
    if form == "chain":
        table = {nn.Conv2d: lambda m: L.Conv2D.from_torch(m, "winograd"), nn.MaxPool2d: L.MaxPool2D.from_torch,
                 nn.ReLU: lambda m: L.ReLU(), nn.ReLU6: lambda m: L.ReLU6()}
        model = ai3.Model([table[type(m)](m) for m in net])
    else:
        model = ai3.swap_backend(net, {"conv2d": "winograd"}, dtype=dtype)
    with forbid_torch_ops(MODEL_ATEN):
        out = model(x)
    assert_layer_close(out, expected)
    got = [(layer.op, layer.resolved_algorithm) for layer in model.layers]
    assert [a for op, a in got if op == "maxpool2d"] == ["fused", "fused"], got
    assert all(a == "fused" for op, a in got if op in ("relu", "relu6")), got


@pytest.mark.parametrize("case", ["direct", "ceil-odd", "pool-3x3", "pool-direct", "two-readers"])
def test_maxpool_not_fused_where_it_cannot_be(case):
    algo = "direct" if case == "direct" else "winograd"
    pool = {"ceil-odd": nn.MaxPool2d(2, ceil_mode=True), "pool-3x3": nn.MaxPool2d(3, 2, 1)}.get(case, nn.MaxPool2d(2))

    class TwoReaders(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.pool = nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2)

        def forward(self, x):
            y = torch.relu(self.conv(x))
            return self.pool(y).sum() + y.sum()  # y is read by the pool and by the sum

    net = (TwoReaders().eval() if case == "two-readers"
           else nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), pool))
    x = randn(1, 3, 9, 11)
    expected = net(x).detach()
    selector = {"conv2d": algo}
    if case == "pool-direct":
        selector["maxpool2d"] = "direct"
    model = ai3.swap_backend(net, selector, unsupported="torch")
    assert_layer_close(model(x), expected)
    pools = [layer.resolved_algorithm for layer in model.layers if layer.op == "maxpool2d"]
    assert pools == ["direct"], [(layer.op, layer.resolved_algorithm) for layer in model.layers]


@pytest.mark.parametrize("first", ["direct", "winograd"])
def test_pool_fusion_after_an_activation_only_fusion(first):
    # A conv with only its ReLU fused (not winograd), its pool run alone, then a block whose
    # pool is fused: the buffer plan must keep every unfused value where its readers look.
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()
    x = randn(2, 3, 16, 16)
    x_before = x.clone()
    expected = net(x).detach()
    model = ai3.swap_backend(net, {"conv2d": [first, "winograd", "direct"]})
    assert_layer_close(model(x), expected)
    assert torch.equal(x, x_before)  # the caller's input is never written
    pools = [layer.resolved_algorithm for layer in model.layers if layer.op == "maxpool2d"]
    assert pools == (["fused", "fused"] if first == "winograd" else ["direct", "fused"])
