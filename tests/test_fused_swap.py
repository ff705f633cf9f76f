"""swap_conv2d's fusion: a swapped conv and the ReLU/ReLU6 after it in an nn.Sequential run as
one pass (ai3.modules.Sequential), with torch's results, gradients and hook semantics."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ai3

from helpers import CONV_IMPLEMENTED, DTYPES, assert_layer_close, dtype_id, randn

ACTS = {"relu": lambda: nn.ReLU(), "relu inplace": lambda: nn.ReLU(inplace=True), "relu6": lambda: nn.ReLU6()}
FUSE_ALGOS = [a for a in ("direct", "smm", "gemm", "implicit gemm", "implicit precomp gemm", "winograd", "default")
              if a in CONV_IMPLEMENTED or a == "default"]


def net(act: str, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    torch.manual_seed(0)
    # Biases shifted so the activations clamp a good share of outputs on both sides.
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), ACTS[act](), nn.Conv2d(8, 6, 3, padding=1), ACTS[act](),
                      nn.Flatten(), nn.Linear(6 * 10 * 10, 4))
    with torch.no_grad():
        m[0].weight.mul_(4)
        m[2].bias.add_(0.5)
    return m.to(dtype)


class Counting:
    """Counts the calls of ReLU.forward and ReLU6.forward (fused ones never call them)."""

    def __init__(self, monkeypatch):
        self.calls = 0
        for cls in (nn.ReLU, nn.ReLU6):
            orig = cls.forward

            def fwd(mod, x, orig=orig):
                self.calls += 1
                return orig(mod, x)

            monkeypatch.setattr(cls, "forward", fwd)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("algo", FUSE_ALGOS)
@pytest.mark.parametrize("act", list(ACTS))
def test_fused_pairs_match_torch_forward_and_backward(act, algo, dtype, monkeypatch):
    ref = net(act, dtype)
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, algo)
    assert type(m) is ai3.modules.Sequential
    x = randn(2, 3, 10, 10, dtype=dtype).mul(3)
    counting = Counting(monkeypatch)
    xa, xr = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out = m(xa)
    assert counting.calls == 0  # both activations ran inside the convs
    expected = ref(xr)
    assert_layer_close(out, expected, dtype)
    g = randn(*out.shape, dtype=dtype, seed=1)
    out.backward(g)
    expected.backward(g)
    assert_layer_close(xa.grad, xr.grad, dtype, msg="input grad")
    for (name, p), (_, q) in zip(m.named_parameters(), ref.named_parameters()):
        assert_layer_close(p.grad, q.grad, dtype, msg=name)


def test_relu6_gradient_is_zero_where_the_output_was_clamped():
    conv = nn.Conv2d(1, 1, 1, bias=True)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    m = nn.Sequential(conv, nn.ReLU6())
    ai3.swap_conv2d(m, "direct")
    x = torch.tensor([-1.0, 0.5, 3.0, 7.0]).reshape(1, 1, 2, 2).requires_grad_(True)
    out = m(x)
    assert out.flatten().tolist() == [0.0, 0.5, 3.0, 6.0]
    out.sum().backward()
    assert x.grad.flatten().tolist() == [0.0, 1.0, 1.0, 0.0]


def test_members_called_alone_and_slices_keep_their_own_meaning():
    ref = net("relu")
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "smm")
    x = randn(1, 3, 10, 10).mul(3)
    with torch.no_grad():
        alone = m[0](x)
        assert (alone < 0).any()  # the conv alone is not clamped
        assert_layer_close(alone, ref[0](x))
        assert_layer_close(m[:1](x), ref[:1](x))  # a slice that separates the pair
        assert_layer_close(m[:2](x), ref[:2](x))
        assert_layer_close(m[1:](F.relu(m[0](x))), ref[1:](F.relu(ref[0](x))))


@pytest.mark.parametrize("where", ["conv forward hook", "relu forward hook", "relu pre-hook", "global hook"])
def test_hooks_see_what_torch_shows_them(where):
    ref = net("relu")
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "direct")
    x = randn(1, 3, 10, 10).mul(3)
    seen = {}

    def fwd_hook(name):
        def hook(mod, inp, out):
            seen.setdefault(name, []).append(out.clone())
        return hook

    def pre_hook(name):
        def hook(mod, inp):
            seen.setdefault(name, []).append(inp[0].clone())
        return hook

    handles = []
    for label, model in (("ai3", m), ("torch", ref)):
        if where == "conv forward hook":
            handles.append(model[0].register_forward_hook(fwd_hook(label)))
        elif where == "relu forward hook":
            handles.append(model[1].register_forward_hook(fwd_hook(label)))
        elif where == "relu pre-hook":
            handles.append(model[1].register_forward_pre_hook(pre_hook(label)))
    if where == "global hook":
        handles.append(nn.modules.module.register_module_forward_hook(
            lambda mod, inp, out: seen.setdefault(type(mod).__module__.split(".")[0], []).append(out.clone())
            if isinstance(mod, nn.ReLU) else None))
    try:
        with torch.no_grad():
            assert_layer_close(m(x), ref(x))
    finally:
        for h in handles:
            h.remove()
    if where == "global hook":
        assert len(seen["torch"]) == 4  # each ReLU, in both models (torch.nn's class either way)
        assert_layer_close(seen["torch"][0], seen["torch"][2])
    else:
        assert len(seen["ai3"]) == len(seen["torch"]) == 1
        assert_layer_close(seen["ai3"][0], seen["torch"][0])


def test_fuse_false_keeps_plain_sequentials_and_results():
    ref = net("relu")
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "direct", fuse=False)
    assert type(m) is nn.Sequential
    with torch.no_grad():
        assert_layer_close(m(randn(1, 3, 10, 10)), ref(randn(1, 3, 10, 10)))


@pytest.mark.parametrize("fuse", [1, "yes", None])
def test_fuse_must_be_a_bool(fuse):
    with pytest.raises(ai3.InvalidInputError, match="fuse"):
        ai3.swap_conv2d(net("relu"), "direct", fuse=fuse)


def test_unknown_activation_is_refused_by_the_op():
    x, w = randn(1, 2, 5, 5), randn(3, 2, 3, 3)
    with pytest.raises(ai3.InvalidInputError, match="activation"):
        torch.ops.ai3.conv2d(x, w, None, [1, 1], [0, 0, 0, 0], [1, 1], 1, "zeros", "direct", "cpu", "tanh")


def test_state_dict_deepcopy_and_pickle_are_unchanged():
    ref = net("relu")
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "direct")
    assert list(m.state_dict()) == list(ref.state_dict())
    x = randn(1, 3, 10, 10)
    for other in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert type(other) is ai3.modules.Sequential
        with torch.no_grad():
            assert_layer_close(other(x), ref(x))
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    fresh = net("relu")
    ai3.swap_conv2d(fresh, "direct")
    fresh.load_state_dict(torch.load(buf))
    with torch.no_grad():
        assert_layer_close(fresh(x), ref(x))


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_fused_model_trains_like_torch(backend):
    ref = net("relu")
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "default")
    compiled = torch.compile(m, backend=backend, fullgraph=True)
    x, y = randn(4, 3, 10, 10).mul(3), torch.tensor([0, 1, 2, 3])
    loss = F.cross_entropy(compiled(x), y)
    loss.backward()
    ref_loss = F.cross_entropy(ref(x), y)
    ref_loss.backward()
    assert abs(loss.item() - ref_loss.item()) < 1e-5
    for (name, p), (_, q) in zip(m.named_parameters(), ref.named_parameters()):
        assert_layer_close(p.grad, q.grad, msg=name)


def test_swap_backend_of_a_fused_model_still_sees_two_modules():
    ref = net("relu")
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "direct")
    model = ai3.swap_backend(m)
    assert [layer.op for layer in model.layers][:4] == ["conv2d", "relu", "conv2d", "relu"]
    x = randn(2, 3, 10, 10)
    with torch.no_grad():
        assert_layer_close(model(x), ref(x))


def test_fused_pair_on_a_sycl_device_applies_the_activation_too():
    if not ai3.using_sycl():
        pytest.skip("no SYCL device in this build")
    from helpers import sycl_test_device

    ref = net("relu6")
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "direct", device=sycl_test_device())
    x = randn(1, 3, 10, 10).mul(3)
    with torch.no_grad():
        assert_layer_close(m(x), ref(x))


def test_plain_eager_inference_skips_the_dispatcher_and_everything_else_uses_it(monkeypatch):
    """Without grad, modes, tracing or the profiler a swapped conv calls its kernel directly
    (the operator's dispatch costs as much as a small conv); otherwise the operator runs."""
    import ai3.ops

    ref = net("relu")
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "direct")
    calls = []
    orig = ai3.ops.conv2d
    monkeypatch.setattr(ai3.ops, "conv2d", lambda *a, **k: calls.append(1) or orig(*a, **k))
    x = randn(2, 3, 10, 10)
    with torch.no_grad():
        assert_layer_close(m(x), ref(x))
    with torch.inference_mode():
        assert_layer_close(m(x), ref(x))
    assert calls == []
    out = m(x)  # parameters require grad: the operator (and its autograd formula) runs
    assert len(calls) == 2 and out.grad_fn is not None
    with torch.no_grad(), torch.profiler.profile() as prof:
        m(x)
    assert len(calls) == 4
    assert any("ai3::conv2d" in e.name for e in prof.events())
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True) as mode, torch.no_grad():
        fake = m(mode.from_tensor(x))
    assert len(calls) == 6 and tuple(fake.shape) == (2, 4)
