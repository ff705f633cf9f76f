"""conv2d: every implemented algorithm x dtype x a grid of nn.Conv2d configurations, against torch.

Two paths are checked: ``ai3.swap_conv2d`` (the ``torch.ops.ai3.conv2d`` custom op, weights
borrowed from the torch module) and ``ai3.layers.Conv2D`` (weights owned by the C++ layer).
"""

from __future__ import annotations

import copy
from typing import Any, Dict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ai3

from helpers import (
    CONV_APPLE,
    CONV_ATEN,
    CONV_BASELINE,
    CONV_IMPLEMENTED,
    CONV_META,
    CONV_NOT_YET,
    DTYPES,
    assert_layer_close,
    conv_refuses,
    dtype_id,
    forbid_torch_ops,
    randn,
)


def _cfg(name: str, **kw: Any) -> Any:
    base: Dict[str, Any] = dict(cin=4, cout=6, k=3, stride=1, padding=1, dilation=1, groups=1, bias=True,
                                mode="zeros", hw=(9, 10), n=2)
    base.update(kw)
    return pytest.param(base, id=name)


CONFIGS = [
    _cfg("base"),
    # kernels
    _cfg("k1", k=1, padding=0),
    _cfg("k1_pad1", k=1, padding=1),
    _cfg("k5", k=5, padding=2),
    _cfg("k1x3", k=(1, 3), padding=(0, 1)),
    _cfg("k3x1", k=(3, 1), padding=(1, 0)),
    _cfg("k7", k=7, padding=0, hw=(9, 11)),
    _cfg("k7_pad3", k=7, padding=3),
    _cfg("k2x4", k=(2, 4), padding=0),
    # strides
    _cfg("s2", stride=2),
    _cfg("s2x1", stride=(2, 1)),
    _cfg("s1x2_k5", stride=(1, 2), k=5, padding=2),
    _cfg("s3_k1", stride=3, k=1, padding=0),
    # paddings
    _cfg("p0", padding=0),
    _cfg("p2", padding=2),
    _cfg("p1x2", padding=(1, 2)),
    _cfg("p_same", padding="same"),
    _cfg("p_valid", padding="valid"),
    _cfg("p_same_k4_asym", padding="same", k=4),  # 'same' with an even kernel pads asymmetrically
    _cfg("p_same_k2x5_d2", padding="same", k=(2, 5), dilation=2),
    _cfg("p_same_k5", padding="same", k=5),
    _cfg("p_larger_than_kernel", padding=3, k=3),
    # dilation
    _cfg("d2", dilation=2, padding=2),
    _cfg("d2x1", dilation=(2, 1), padding=(2, 1)),
    _cfg("d3_k3_p0", dilation=3, padding=0, hw=(11, 12)),
    # groups
    _cfg("g2", groups=2),
    _cfg("depthwise", cin=6, cout=6, groups=6),
    _cfg("depthwise_mult2", cin=4, cout=8, groups=4),  # K = 2 * groups
    _cfg("g3_s2_d2", cin=6, cout=9, groups=3, stride=2, dilation=2, padding=2),
    # bias
    _cfg("nobias", bias=False),
    _cfg("nobias_g2_s2", bias=False, groups=2, stride=2),
    # padding modes
    _cfg("reflect", mode="reflect"),
    _cfg("replicate", mode="replicate"),
    _cfg("circular", mode="circular"),
    _cfg("reflect_p1x2", mode="reflect", padding=(1, 2)),
    _cfg("replicate_p2_s2", mode="replicate", padding=2, stride=2),
    _cfg("circular_p2x1_d2", mode="circular", padding=(2, 1), dilation=2),
    _cfg("reflect_same_k4", mode="reflect", padding="same", k=4),
    _cfg("replicate_same_k2x3", mode="replicate", padding="same", k=(2, 3)),
    _cfg("circular_same_d2", mode="circular", padding="same", dilation=2),
    _cfg("circular_g2_nobias", mode="circular", groups=2, bias=False),
    _cfg("zeros_valid_k5", mode="zeros", padding="valid", k=5),
    # channels
    _cfg("cin1", cin=1, cout=3),
    _cfg("cout1", cin=5, cout=1),
    _cfg("wide", cin=17, cout=33, hw=(5, 6), n=1),
    _cfg("many_channels_k1", cin=64, cout=24, k=1, padding=0, hw=(4, 5)),
    # tiny inputs where the kernel just fits
    _cfg("fit_k3", padding=0, hw=(3, 3)),
    _cfg("fit_k3_p1_1x1", padding=1, hw=(1, 1)),
    _cfg("fit_k5_d2", k=5, dilation=2, padding=0, hw=(9, 9)),
    _cfg("fit_k7_1x7", k=(1, 7), padding=0, hw=(1, 7)),
    _cfg("fit_s2_k3", stride=2, padding=0, hw=(3, 4)),
    _cfg("fit_reflect", mode="reflect", padding=1, hw=(2, 2)),
    _cfg("fit_circular", mode="circular", padding=2, k=5, hw=(2, 2)),
    _cfg("fit_replicate", mode="replicate", padding=2, k=5, hw=(1, 1)),
    _cfg("one_pixel_k1", k=1, padding=0, hw=(1, 1)),
    # larger, not a multiple of any tile
    _cfg("odd_sizes", cin=7, cout=13, hw=(23, 19), n=1),
    _cfg("vgg_like", cin=16, cout=32, hw=(14, 14), n=1),
]


def make_conv(c: Dict[str, Any], dtype: torch.dtype) -> nn.Conv2d:
    m = nn.Conv2d(c["cin"], c["cout"], c["k"], stride=c["stride"], padding=c["padding"], dilation=c["dilation"],
                  groups=c["groups"], bias=c["bias"], padding_mode=c["mode"])
    with torch.no_grad():  # non-trivial bias values, so a missing bias is seen
        if m.bias is not None:
            m.bias.uniform_(-1, 1)
    return m.to(dtype)


def input_for(c: Dict[str, Any], dtype: torch.dtype, n: Any = "cfg", seed: int = 1) -> torch.Tensor:
    n = c["n"] if n == "cfg" else n
    shape = (c["cin"], *c["hw"]) if n is None else (n, c["cin"], *c["hw"])
    return randn(*shape, dtype=dtype, seed=seed)


def _refused(algo: str):
    def run(*_: Any) -> None:
        raise ai3.UnsupportedError(f"{algo} was refused when swapping")
    return run


def swapped(ref: nn.Conv2d, algo: str, device: str) -> nn.Conv2d:
    """``ref`` swapped to ``algo``; where ``algo`` may refuse it, checks that swap_conv2d
    refuses at once (naming the algorithm, leaving the module as it was) and returns a
    stand-in that raises as the swapped module would have."""
    m = copy.deepcopy(ref)
    if conv_refuses(algo, ref):
        with pytest.raises(ai3.UnsupportedError, match=algo):
            ai3.swap_conv2d(m, algo, device=device)
        assert type(m) is nn.Conv2d
        return _refused(algo)  # type: ignore[return-value]
    ai3.swap_conv2d(m, algo, device=device)
    assert type(m) is ai3.Conv2d and m.algorithm == algo
    return m


def layer_from(ref: nn.Conv2d, algo: str) -> ai3.layers.Conv2D:
    return ai3.layers.Conv2D(ref.weight, ref.bias, ref.stride, ref.padding, ref.dilation, ref.groups,
                             ref.padding_mode, algorithm=algo)


def check(run, expected, algo, ref):
    """``run()`` matches ``expected``; or, where the refusal rule lets ``algo`` refuse this conv (only winograd
    outside 3x3/stride 1/dilation 1), raises UnsupportedError naming the algorithm."""
    if conv_refuses(algo, ref):  # even for an empty batch: the refusal does not depend on the data
        with pytest.raises(ai3.UnsupportedError, match=algo):
            with torch.no_grad():
                run()
        return None
    with torch.no_grad():
        out = run()
    assert_layer_close(out, expected)
    return out


# ---- the grid ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_swap_conv2d_matches_torch(cfg, dtype, algo, device):
    ref = make_conv(cfg, dtype)
    x = input_for(cfg, dtype)
    with torch.no_grad():
        expected = ref(x)
    m = swapped(ref, algo, device)
    with forbid_torch_ops(CONV_ATEN, require=[] if conv_refuses(algo, ref) else ["ai3::conv2d"]):
        out = check(lambda: m(x), expected, algo, ref)
    assert out is None or out.dtype == dtype


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_layer_conv2d_matches_torch(cfg, dtype, algo):
    ref = make_conv(cfg, dtype)
    x = input_for(cfg, dtype)
    with torch.no_grad():
        expected = ref(x)
    layer = layer_from(ref, algo)
    assert layer.resolved_algorithm is None
    with forbid_torch_ops(CONV_ATEN):
        out = check(lambda: layer(x), expected, algo, ref)
    if out is None:
        return
    assert isinstance(out, torch.Tensor)
    assert layer.algorithm == algo
    assert layer.resolved_algorithm == algo  # never silently another algorithm
    # numpy in, numpy out
    out_np = layer(x.numpy())
    assert isinstance(out_np, np.ndarray) and out_np.dtype == x.numpy().dtype
    assert_layer_close(out_np, expected)


# ---- batch sizes, unbatched, memory layouts ------------------------------------------------------

LAYOUT_CFGS = [c for c in CONFIGS if c.id in ("base", "s2x1", "p_same_k4_asym", "depthwise_mult2", "reflect",
                                               "circular_p2x1_d2", "nobias_g2_s2", "fit_k3")]


@pytest.mark.parametrize("n", [0, 1, 3, None], ids=["batch0", "batch1", "batch3", "unbatched"])
@pytest.mark.parametrize("cfg", LAYOUT_CFGS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_batch_sizes(cfg, dtype, algo, n, device):
    ref = make_conv(cfg, dtype)
    x = input_for(cfg, dtype, n=n)
    with torch.no_grad():
        expected = ref(x)
    m, layer = swapped(ref, algo, device), layer_from(ref, algo)
    check(lambda: m(x), expected, algo, ref)
    check(lambda: layer(x), expected, algo, ref)


def _non_contiguous(x: torch.Tensor, how: str) -> torch.Tensor:
    if how == "channels_last":
        y = x.contiguous(memory_format=torch.channels_last)
    elif how == "transposed_hw":  # a (N, C, W, H) tensor viewed as (N, C, H, W)
        y = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    elif how == "strided_slice":  # every other element of a bigger tensor
        big = torch.zeros(*x.shape[:-1], x.shape[-1] * 2, dtype=x.dtype)
        big[..., ::2] = x
        y = big[..., ::2]
    elif how == "expanded_batch":  # batch via stride 0
        y = x[:1].expand(3, *x.shape[1:])
    else:
        raise AssertionError(how)
    assert not y.is_contiguous()
    return y


@pytest.mark.parametrize("how", ["channels_last", "transposed_hw", "strided_slice", "expanded_batch"])
@pytest.mark.parametrize("cfg", LAYOUT_CFGS[:4])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_non_contiguous_inputs(cfg, dtype, algo, how, device):
    ref = make_conv(cfg, dtype)
    x = _non_contiguous(input_for(cfg, dtype, n=2), how)
    with torch.no_grad():
        expected = ref(x.contiguous())
    m = swapped(ref, algo, device)
    check(lambda: m(x), expected, algo, ref)
    check(lambda: layer_from(ref, algo)(x), expected, algo, ref)
    if conv_refuses(algo, ref):
        return  # nothing was swapped
    # non-contiguous weights too (channels_last; a transposed view where that is still contiguous)
    m = m.to(memory_format=torch.channels_last)
    if m.weight.is_contiguous():
        m.weight.data = m.weight.data.transpose(-1, -2).contiguous().transpose(-1, -2)
    assert not m.weight.is_contiguous()
    check(lambda: m(x), expected, algo, ref)


@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_non_contiguous_numpy_input(algo):
    ref = make_conv(CONFIGS[0].values[0], torch.float32)
    x = input_for(CONFIGS[0].values[0], torch.float32, n=2)
    xf = np.asfortranarray(x.numpy())
    assert not xf.flags.c_contiguous
    with torch.no_grad():
        expected = ref(x)
    assert_layer_close(layer_from(ref, algo)(xf), expected)


def test_input_not_modified():
    cfg = CONFIGS[0].values[0]
    ref = make_conv(cfg, torch.float32)
    x = input_for(cfg, torch.float32)
    before = x.clone()
    for algo in CONV_IMPLEMENTED:
        with torch.no_grad():
            swapped(ref, algo, "cpu")(x)
        layer_from(ref, algo)(x)
    assert torch.equal(x, before)


# ---- meta algorithms: guess / default ---------------------------------------------------------

@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c.id in ("base", "k1", "k7", "depthwise", "reflect", "wide",
                                                               "fit_k3_p1_1x1", "vgg_like", "s2x1")])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("algo", CONV_META)
def test_guess_and_default_resolve_and_match(cfg, dtype, algo, device):
    ref = make_conv(cfg, dtype)
    x = input_for(cfg, dtype)
    m = swapped(ref, algo, device)
    resolved = m.resolve_for(tuple(x.shape))
    assert resolved in CONV_IMPLEMENTED, f"{algo!r} resolved to {resolved!r}, not an implemented algorithm"
    # unbatched shape resolves too
    assert m.resolve_for(tuple(x.shape[1:])) in CONV_IMPLEMENTED
    with torch.no_grad():
        expected = ref(x)
        with forbid_torch_ops(CONV_ATEN, require=["ai3::conv2d"]):
            out = m(x)
    assert_layer_close(out, expected)
    assert m.algorithm == algo  # the requested name is kept

    layer = layer_from(ref, algo)
    assert layer.resolved_algorithm is None
    assert_layer_close(layer(x), expected)
    assert layer.algorithm == algo
    assert layer.resolved_algorithm in CONV_IMPLEMENTED
    assert layer.resolved_algorithm == layer.resolve_for(tuple(x.shape), dtype_id(dtype))


@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_explicit_algorithm_resolves_to_itself(algo):
    m = swapped(nn.Conv2d(3, 4, 3), algo, "cpu")
    assert m.resolve_for((1, 3, 8, 8)) == algo
    assert m.resolve_for((3, 8, 8)) == algo


def test_registry_has_the_baseline_and_only_published_names():
    """The grid follows the registry (kernels land while the suite is maintained); this pins it down:
    the baseline algorithms are always there, for both dtypes, and nothing unpublished is registered."""
    cpu = {(a, d) for op, a, b, d in ai3._core.registry_entries() if op == "conv2d" and b == "cpu"}
    for a in CONV_BASELINE:
        assert {(a, "float32"), (a, "float64")} <= cpu, f"{a} is missing from the CPU registry"
    published = set(ai3.SUPPORTED_ALGORITHMS["conv2d"]) - set(CONV_META) - set(CONV_APPLE)
    assert {a for a, _ in cpu} <= published
    assert {a for a, _ in cpu} == set(CONV_IMPLEMENTED), "an algorithm is registered for one dtype only"
    for op in ("linear", "maxpool2d", "avgpool2d", "adaptiveavgpool2d", "relu", "flatten"):
        for d in ("float32", "float64"):
            assert (op, "direct", "cpu", d) in ai3._core.registry_entries()


def test_winograd_refuses_only_outside_its_shapes():
    """If winograd is built, it runs 3x3/stride 1/dilation 1 (any groups, padding, padding mode) and
    refuses the rest with UnsupportedError naming the algorithm -- never silently another one."""
    if "winograd" not in CONV_IMPLEMENTED:
        pytest.skip("winograd has no kernel in this build (see test_not_yet_implemented_algorithms_refuse_clearly)")
    x = randn(1, 4, 8, 8)
    for kw in (dict(kernel_size=5, padding=2), dict(kernel_size=3, stride=2), dict(kernel_size=3, dilation=2),
               dict(kernel_size=(3, 1)), dict(kernel_size=1)):
        ref = nn.Conv2d(4, 4, **kw)
        net = nn.Sequential(nn.ReLU(), copy.deepcopy(ref))
        # Refused when swapped (naming the module and the algorithm), with nothing swapped...
        with pytest.raises(ai3.UnsupportedError, match=r"conv2d 1 .*cannot run 'winograd'"):
            ai3.swap_conv2d(net, "winograd")
        assert type(net[1]) is nn.Conv2d
        # ...and by the layer when it runs.
        with pytest.raises(ai3.UnsupportedError, match="winograd"):
            layer_from(ref, "winograd")(x)
    ref = nn.Conv2d(4, 8, 3, padding=1, groups=2, padding_mode="reflect")
    check(lambda: swapped(ref, "winograd", "cpu")(x), ref(x).detach(), "winograd", ref)


# ---- algorithms without a kernel yet ------------------------------------------------------------

# >>> Algorithms named by the API without a kernel in this build (helpers.CONV_NOT_YET, computed from
# >>> the registry) must refuse clearly: ai3.UnsupportedError naming op, algorithm, backend and dtype,
# >>> never silently run another algorithm. Once a kernel is registered, the name moves to the grid
# >>> above automatically, and this test has no case for it (an empty list reports as skipped).

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("algo", CONV_NOT_YET)
def test_not_yet_implemented_algorithms_refuse_clearly(algo, dtype, device):
    ref = make_conv(CONFIGS[0].values[0], dtype)  # 3x3, stride 1, dilation 1: even winograd's shape
    x = input_for(CONFIGS[0].values[0], dtype)
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, algo, device=device)  # swapping succeeds; running refuses
    for run in (lambda: m(x), lambda: layer_from(ref, algo)(x),
                lambda: ai3.Model([layer_from(ref, algo)]).predict(x)):
        with pytest.raises(ai3.UnsupportedError) as ei:
            with torch.no_grad():
                run()
        assert isinstance(ei.value, NotImplementedError)
        msg = str(ei.value)
        for word in ("conv2d", repr(algo), "cpu", dtype_id(dtype)):
            assert word in msg, f"{word!r} not in {msg!r}"


@pytest.mark.parametrize("algo", CONV_APPLE)
def test_apple_algorithms_refuse_off_macos(algo):
    m = nn.Sequential(nn.Conv2d(3, 4, 3))
    with pytest.raises(ai3.UnsupportedError, match=algo):
        ai3.swap_conv2d(m, algo)
    assert type(m[0]) is nn.Conv2d  # nothing swapped
    with pytest.raises(ai3.UnsupportedError, match=algo):
        ai3.layers.Conv2D(torch.randn(4, 3, 3, 3), algorithm=algo)
    with pytest.raises(ai3.UnsupportedError, match=algo):
        ai3.swap_backend(m, {"conv2d": algo})


# ---- autograd, custom-op registration, compile --------------------------------------------------

GRAD_CFGS = [c for c in CONFIGS if c.id in ("base", "p_same_k4_asym", "reflect_p1x2", "circular_p2x1_d2",
                                            "replicate_same_k2x3", "depthwise_mult2", "nobias_g2_s2", "p1x2")]


@pytest.mark.parametrize("cfg", GRAD_CFGS)
@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_backward_matches_torch(cfg, algo):
    dtype = torch.float64
    ref = make_conv(cfg, dtype)
    if conv_refuses(algo, ref):
        pytest.skip(f"{algo} may refuse this configuration (covered by the grid tests)")
    m = swapped(ref, algo, "cpu")
    x = input_for(cfg, dtype)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    g = randn(*ref(x).shape, dtype=dtype, seed=7)
    (ref(x1) * g).sum().backward()
    (m(x2) * g).sum().backward()
    assert_layer_close(x2.grad, x1.grad)
    assert_layer_close(m.weight.grad, ref.weight.grad)
    if ref.bias is not None:
        assert_layer_close(m.bias.grad, ref.bias.grad)


@pytest.mark.parametrize("cfg", GRAD_CFGS[:3])
def test_gradcheck(cfg):
    ref = make_conv(dict(cfg, cin=2, cout=2 * cfg["groups"] if cfg["groups"] > 1 else 2,
                         groups=1 if cfg["groups"] > 2 else cfg["groups"], hw=(5, 6), n=1), torch.float64)
    m = swapped(ref, "direct", "cpu")
    x = randn(1, ref.in_channels, 5, 6, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda inp: m(inp), (x,))


@pytest.mark.parametrize("padding", [[1, 1, 1, 1], [0, 1, 2, 0]])
@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_opcheck_custom_op(padding, mode):
    w = randn(4, 3, 3, 3)
    b = randn(4, seed=2)
    x = randn(2, 3, 7, 8, seed=3)
    for args in ([x, w, b, [1, 1], padding, [1, 1], 1, mode, "direct"],
                 [x.requires_grad_(True), w.requires_grad_(True), None, [2, 1], padding, [1, 2], 1, mode, "smm"]):
        torch.library.opcheck(torch.ops.ai3.conv2d.default, args)


def test_custom_op_meta_shape():
    x = torch.empty(2, 3, 9, 10, device="meta")
    w = torch.empty(5, 3, 3, 3, device="meta")
    out = torch.ops.ai3.conv2d(x, w, None, [2, 1], [1, 0, 2, 1], [1, 2], 1, "zeros", "direct")
    ref = F.conv2d(F.pad(torch.empty(2, 3, 9, 10), (2, 1, 1, 0)), torch.empty(5, 3, 3, 3), None, (2, 1), 0, (1, 2))
    assert out.device.type == "meta" and tuple(out.shape) == tuple(ref.shape)


def test_torch_compile_fullgraph():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, stride=2))
    x = randn(2, 3, 12, 12)
    with torch.no_grad():
        expected = model(x)
    ai3.swap_conv2d(model, ["direct", "smm"])
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        out = compiled(x)
    assert_layer_close(out, expected)


@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_inference_tensor_weights_changed_in_place(algo):
    """Inference tensors have no version counter: a weight changed in place under
    inference_mode must still be seen (kernels that cache transformed filters, like
    winograd, must not reuse stale ones)."""
    with torch.inference_mode():
        conv = nn.Conv2d(4, 6, 3, padding=1)  # parameters created here are inference tensors
        ai3.swap_conv2d(conv, algo)
        x = torch.randn(1, 4, 8, 8)
        first = conv(x)
        conv.weight.mul_(-2.0)
        second = conv(x)
        expected = F.conv2d(x, conv.weight, conv.bias, padding=1)
    assert_layer_close(second, expected)
    assert not torch.allclose(first, second)


@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_weights_changed_in_place_are_seen(algo):
    """An optimizer step changes parameters in place (bumping their version counter);
    the next forward must use the new values, not a cached transform of the old ones."""
    conv = nn.Conv2d(4, 6, 3, padding=1)
    ai3.swap_conv2d(conv, algo)
    x = torch.randn(2, 4, 8, 8)
    opt = torch.optim.SGD(conv.parameters(), lr=0.5)
    conv(x).square().sum().backward()
    with torch.no_grad():
        before = conv(x)
    opt.step()
    with torch.no_grad():
        after = conv(x)
        expected = F.conv2d(x, conv.weight, conv.bias, padding=1)
    assert_layer_close(after, expected)
    assert not torch.allclose(before, after)


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_backward_runs_on_ai3_kernels(cfg, algo):
    """grad_input and grad_weight are ai3 convolutions: torch's convolution (forward or
    backward) never runs, and the float32 gradients match torch within 1e-4."""
    ref = make_conv(cfg, torch.float32)
    if conv_refuses(algo, ref):
        pytest.skip(f"{algo} may refuse this configuration (covered by the grid tests)")
    x = input_for(cfg, torch.float32)
    if x.shape[0] == 0:
        pytest.skip("an empty batch has no gradient to compare")
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    g = randn(*ref(x).shape, seed=7)
    (ref(x1) * g).sum().backward()
    m = swapped(ref, algo, "cpu")
    m.zero_grad()
    with forbid_torch_ops(CONV_ATEN + ("aten::convolution_backward",), require=("ai3::conv2d",)) as mode:
        (m(x2) * g).sum().backward()
    assert mode.seen.count("ai3::conv2d") >= 3, "forward, grad_input and grad_weight should each be an ai3 conv"
    assert_layer_close(x2.grad, x1.grad)
    assert_layer_close(m.weight.grad, ref.weight.grad)
    if ref.bias is not None:
        assert_layer_close(m.bias.grad, ref.bias.grad)


@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_gradcheck_every_algorithm(algo):
    conv = nn.Conv2d(2, 4, 3, stride=1 if algo == "winograd" else 2, padding=1, groups=2).double()
    x = randn(1, 2, 6, 7, dtype=torch.float64).requires_grad_(True)
    w = conv.weight.detach().clone().requires_grad_(True)
    b = conv.bias.detach().clone().requires_grad_(True)
    stride = list(conv.stride)
    assert torch.autograd.gradcheck(
        lambda x, w, b: torch.ops.ai3.conv2d(x, w, b, stride, [1, 1, 1, 1], [1, 1], 2, "zeros", algo), (x, w, b))


@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_weights_changed_through_data_are_seen(algo):
    """Writes through .data bypass torch's version counter (old-style manual SGD);
    kernels that cache transformed filters must still see them."""
    conv = nn.Conv2d(4, 6, 3, padding=1)
    ai3.swap_conv2d(conv, algo)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        first = conv(x)
        conv.weight.data.mul_(-3.0)
        second = conv(x)
        expected = F.conv2d(x, conv.weight, conv.bias, padding=1)
    assert_layer_close(second, expected)
    assert not torch.allclose(first, second)
