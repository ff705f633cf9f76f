"""NaN and +-inf as torch gives them, through every conv algorithm and every fused path
(swap_conv2d's conv+ReLU/ReLU6 pairs, ai3.Model's conv epilogues and winograd's fused
max pool), in inputs and in weights."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

import ai3

from helpers import CONV_IMPLEMENTED, DTYPES, dtype_id, randn, sycl_test_device

ALGOS = list(CONV_IMPLEMENTED) + ["default"]
ACTS = {"none": None, "relu": nn.ReLU, "relu6": nn.ReLU6}
POISON = {"nan": math.nan, "+inf": math.inf, "-inf": -math.inf}


def poisoned(kind: str, dtype: torch.dtype, shape=(2, 3, 12, 12)) -> torch.Tensor:
    """A random input with a few non-finite values (or, "all nan", nothing but NaN)."""
    if kind == "all nan":
        return torch.full(shape, math.nan, dtype=dtype)
    x = randn(*shape, dtype=dtype)
    v = POISON[kind]
    x[0, 0, 2, 3] = v
    x[0, 2, 7, 0] = v
    x[1, 1, 11, 11] = v
    x[1, 0, 5, 6] = v
    return x


def assert_same_nonfinite(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """NaN where torch has NaN, +inf / -inf where torch has them, close elsewhere."""
    actual = torch.as_tensor(actual)
    assert actual.shape == expected.shape
    for name, f in (("NaN", torch.isnan), ("+inf", torch.isposinf), ("-inf", torch.isneginf)):
        a, e = f(actual), f(expected)
        assert torch.equal(a, e), f"{name}: ai3 has {int(a.sum())}, torch {int(e.sum())} ({int((a ^ e).sum())} differ)"
    fin = torch.isfinite(expected)
    tol = 1e-4 if expected.dtype == torch.float32 else 1e-10
    torch.testing.assert_close(actual[fin], expected[fin], atol=tol, rtol=tol)


def conv_act_net(act, dtype, pool=False, padding=1) -> nn.Sequential:
    torch.manual_seed(0)
    mods = [nn.Conv2d(3, 8, 3, padding=padding)] + ([act()] if act else []) + ([nn.MaxPool2d(2)] if pool else [])
    mods += [nn.Conv2d(8, 5, 3, padding=padding)] + ([act()] if act else [])
    return nn.Sequential(*mods).to(dtype).eval()


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("kind", ["nan", "+inf", "-inf", "all nan"])
@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("algo", ALGOS)
def test_swap_conv2d_fused_pairs_keep_nonfinite(algo, act, kind, dtype):
    ref = conv_act_net(ACTS[act], dtype)
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, algo)
    x = poisoned(kind, dtype)
    with torch.no_grad():
        assert_same_nonfinite(m(x), ref(x))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("kind", ["nan", "+inf", "-inf", "all nan"])
@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("algo", ALGOS)
def test_model_fused_epilogues_and_pool_keep_nonfinite(algo, act, kind, dtype):
    # conv, activation, MaxPool2d(2): under winograd the conv applies both (pool fusion),
    # under default the activation; the others run each layer.
    ref = conv_act_net(ACTS[act], dtype, pool=True)
    model = ai3.swap_backend(ref, {"conv2d": algo})
    x = poisoned(kind, dtype)
    with torch.no_grad():
        assert_same_nonfinite(model(x), ref(x))
    if algo == "winograd":
        assert [lay.resolved_algorithm for lay in model.layers if lay.op == "maxpool2d"] == ["fused"]


@pytest.mark.parametrize("ucache", ["0", "1"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("kind", ["nan", "+inf", "-inf"])
@pytest.mark.parametrize("algo", ALGOS)
def test_nonfinite_weights(algo, kind, dtype, ucache, monkeypatch):
    # winograd transforms the filters once and caches them, or per call (AI3_WINOGRAD_UCACHE).
    # No padding: with an infinite weight, torch's own paths disagree on padded taps (its
    # im2col path, float64's, multiplies the zeros: 0 * inf = NaN, as every ai3 algorithm
    # does; its oneDNN path, most float32 layers', skips them).
    monkeypatch.setenv("AI3_WINOGRAD_UCACHE", ucache)
    ref = conv_act_net(nn.ReLU, dtype, padding=0)
    with torch.no_grad():
        ref[0].weight[2, 1, 0, 2] = POISON[kind]
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, algo)
    x = randn(2, 3, 12, 12, dtype=dtype)
    with torch.no_grad():
        assert_same_nonfinite(m(x), ref(x))
        # and again with finite weights: the kernel must not keep the earlier state
        ref[0].weight[2, 1, 0, 2] = 0.5
        m[0].weight[2, 1, 0, 2] = 0.5
        assert_same_nonfinite(m(x), ref(x))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layer", ["relu", "relu6", "maxpool2d"])
def test_standalone_layers_keep_nonfinite(layer, dtype):
    torch.manual_seed(0)
    mod = {"relu": nn.ReLU(), "relu6": nn.ReLU6(), "maxpool2d": nn.MaxPool2d(2)}[layer]
    ref = nn.Sequential(nn.Conv2d(3, 4, 3), mod).to(dtype).eval()
    # the layer asked for by name is not fused into the conv
    model = ai3.swap_backend(ref, {layer: "direct", "conv2d": "direct"})
    for kind in ("nan", "+inf", "-inf", "all nan"):
        x = poisoned(kind, dtype)
        with torch.no_grad():
            assert_same_nonfinite(model(x), ref(x))


@pytest.mark.parametrize("kind", ["nan", "+inf", "-inf", "all nan"])
def test_sycl_fused_pair_and_model_keep_nonfinite(kind):
    if not ai3.using_sycl():
        pytest.skip("no SYCL backend in this build")
    dev = sycl_test_device()
    ref = conv_act_net(nn.ReLU, torch.float32, pool=True)
    x = poisoned(kind, torch.float32)
    with torch.no_grad():
        expected = ref(x)
        model = ai3.swap_backend(ref, device=dev)
        assert_same_nonfinite(model(x), expected)
        m = copy.deepcopy(ref)
        ai3.swap_conv2d(m, device=dev)
        assert_same_nonfinite(m(x), expected)


@pytest.mark.parametrize("algo", ["winograd", "direct", "default"])
@pytest.mark.parametrize("kind", ["nan", "+inf", "-inf"])
def test_sycl_nonfinite_weights(kind, algo):
    if not ai3.using_sycl():
        pytest.skip("no SYCL backend in this build")
    ref = conv_act_net(nn.ReLU, torch.float32, padding=0)
    with torch.no_grad():
        ref[0].weight[2, 1, 0, 2] = POISON[kind]
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, algo, device=sycl_test_device())
    x = randn(2, 3, 12, 12)
    with torch.no_grad():
        assert_same_nonfinite(m(x), ref(x))
        ref[0].weight[2, 1, 0, 2] = 0.5
        m[0].weight[2, 1, 0, 2] = 0.5
        assert_same_nonfinite(m(x), ref(x))


@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_fused_activation_gradient_matches_torch_at_nonfinite_outputs(act):
    # torch's ReLU/ReLU6 backward pass the gradient where the output is NaN and zero it
    # (not NaN * 0) where the output was clamped
    ref = conv_act_net(ACTS[act], torch.float64)
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "direct")
    x = poisoned("nan", torch.float64)
    xa, xr = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    g = randn(*ref(x).shape, dtype=torch.float64, seed=1)
    g[0, 0, 0, 0] = math.nan
    m(xa).backward(g)
    ref(xr).backward(g)
    assert_same_nonfinite(xa.grad, xr.grad)
    for pa, pr in zip(m.parameters(), ref.parameters()):
        assert_same_nonfinite(pa.grad, pr.grad)


# Values where hardswish/hardsigmoid's pieces meet (+-3), the extremes, signed zeros and
# the non-finite ones: torch's formula, x * min(max(x + 3, 0), 6) / 6, gives exact
# results there that another algebraically equal formula would not.
_EDGES = [0.0, -0.0, 3.0, -3.0, 2.9999998, -2.9999998, 3.0000002, -3.0000002, 1.0, -1.0, 0.5, 1e-30, -1e-30,
          1e30, -1e30, 1e-40, math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("op", ["hardswish", "hardsigmoid"])
def test_hard_activations_are_bit_exact_with_torch(op, dtype, device):
    from ai3 import layers as L

    if device != "cpu" and dtype == torch.float64:
        from helpers import sycl_has_fp64

        if not sycl_has_fp64(device):
            pytest.skip(f"{device} has no fp64")
    layer_type, fn = {"hardswish": (L.Hardswish, torch.nn.functional.hardswish),
                      "hardsigmoid": (L.Hardsigmoid, torch.nn.functional.hardsigmoid)}[op]
    x = torch.cat([torch.tensor(_EDGES, dtype=dtype), randn(237, dtype=dtype, seed=5) * 4]).reshape(1, 1, 16, 16)
    model = ai3.Model([layer_type()], device=device)
    out = torch.as_tensor(model(x))
    expected = fn(x)
    assert torch.equal(torch.isnan(out), torch.isnan(expected))
    same = torch.isnan(expected) | (out == expected)
    assert bool(same.all()), (x[~same][:8], out[~same][:8], expected[~same][:8])
    # and signed zeros as torch has them
    zeros = expected == 0
    assert torch.equal(torch.signbit(out[zeros]), torch.signbit(expected[zeros]))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("op", ["silu", "sigmoid", "gelu", "gelu_tanh"])
def test_transcendental_activations_match_torch_at_the_edges(op, dtype, device):
    """sigmoid, SiLU and both GELUs (one formula each in core/ai3/ops.hpp, over each compiler's
    exp/erf/tanh): torch's NaN/+-inf pattern exactly, exp's overflow limits, and torch's values
    elsewhere, on every device."""
    from ai3 import layers as L

    if device != "cpu" and dtype == torch.float64:
        from helpers import sycl_has_fp64

        if not sycl_has_fp64(device):
            pytest.skip(f"{device} has no fp64")
    F = torch.nn.functional
    layer, fn = {"silu": (L.SiLU(), F.silu), "sigmoid": (L.Sigmoid(), torch.sigmoid),
                 "gelu": (L.GELU(), F.gelu), "gelu_tanh": (L.GELU("tanh"), lambda t: F.gelu(t, approximate="tanh"))}[op]
    x = torch.cat([torch.tensor(_EDGES + [-80.0, 80.0, -800.0, 800.0], dtype=dtype),
                   randn(233, dtype=dtype, seed=6) * 6]).reshape(1, 1, 16, 16)
    out = torch.as_tensor(ai3.Model([layer], device=device)(x))
    assert_same_nonfinite(out, fn(x))
