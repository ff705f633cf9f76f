"""Edge semantics where ai3 once differed from torch: empty reductions, 1-tuple conv
arguments, pooling options torch accepts, refusals that say what the problem is, and
tuned winners that must survive BatchNorm folding and apply to every Model form."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import ai3
from ai3 import layers as L

from helpers import CONV_IMPLEMENTED, DTYPES, dtype_id, sycl_has_fp64


def _skip_f64(device: str, dtype: torch.dtype) -> None:
    if dtype == torch.float64 and device not in ("cpu",) and not device.startswith("cuda") \
            and not sycl_has_fp64(device):
        pytest.skip(f"{device} has no float64")


# ---- empty reductions write their defined result ------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", [(3, 4, 0), (2, 0), (0,)], ids=str)
def test_linear_with_no_in_features_is_the_bias(shape, dtype, device):
    _skip_f64(device, dtype)
    lin = nn.Linear(0, 5).to(dtype)
    with torch.no_grad():
        lin.bias.normal_()
    x = torch.empty(shape, dtype=dtype)
    expected = lin(x)
    for _ in range(3):  # uninitialised memory would differ between runs
        out = ai3.Model([L.Linear.from_torch(lin)], device=device)(x)
        torch.testing.assert_close(out, expected, atol=0, rtol=0)
        torch.testing.assert_close(L.Linear.from_torch(lin)(x), expected, atol=0, rtol=0)


def test_linear_without_bias_and_no_in_features_is_zero(device):
    lin = nn.Linear(0, 4, bias=False)
    x = torch.empty(2, 3, 0)
    out = ai3.Model([L.Linear.from_torch(lin)], device=device)(x)
    torch.testing.assert_close(out, torch.zeros(2, 3, 4), atol=0, rtol=0)


@pytest.mark.parametrize("weight_shape", [(4, 0, 3, 3), (0, 3, 3, 3)], ids=str)
def test_conv_with_an_empty_weight_is_refused_clearly(weight_shape):
    """torch's result for an empty conv weight has its own shape rules (0 input channels
    give 0 output channels); ai3 refuses such a weight by name instead of guessing."""
    ref = nn.Conv2d(weight_shape[1], weight_shape[0], 3)
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m)  # the weight can change before the first call: the call refuses it
    with pytest.raises(ai3.InvalidInputError, match="empty dimension"), torch.no_grad():
        m(torch.empty(2, weight_shape[1], 5, 5))
    with pytest.raises(ai3.InvalidInputError, match="empty dimension"):
        L.Conv2D.from_torch(ref)


@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_conv_on_an_empty_image_matches_torch(algo, device):
    """An empty batch gives an empty output; an empty image padded to a non-empty one
    gives the bias everywhere (every tap reads padding). torch refuses the second
    ("Only zero batch or zero channel inputs"); ai3 writes its defined result, which is
    torch's on the explicitly padded input."""
    ref = nn.Conv2d(3, 4, 3, padding=2)
    with torch.no_grad():
        ref.bias.normal_()
    for shape in [(0, 3, 5, 5), (2, 3, 0, 5), (2, 3, 4, 0), (1, 3, 0, 0)]:
        x = torch.empty(shape)
        with torch.no_grad():
            expected = F.conv2d(F.pad(x, (2, 2, 2, 2)), ref.weight, ref.bias)
        m = copy.deepcopy(ref)
        ai3.swap_conv2d(m, algo, device=device)
        with torch.no_grad():
            torch.testing.assert_close(m(x), expected, atol=0, rtol=0)


# ---- 1-tuple conv arguments (torch accepts them) -------------------------------------------

@pytest.mark.parametrize("kw", [dict(stride=(2,)), dict(dilation=(2,)), dict(stride=(2,), dilation=(2,), padding=(1,))],
                         ids=str)
def test_one_tuple_conv_arguments_under_swap_conv2d(kw, device):
    torch.manual_seed(0)
    args = dict(kernel_size=3)
    args.update(kw)
    ref = nn.Conv2d(4, 6, **args)
    x = torch.randn(2, 4, 13, 11)
    with torch.no_grad():
        expected = ref(x)
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "direct", device=device)
    with torch.no_grad():
        torch.testing.assert_close(m(x), expected, atol=1e-4, rtol=1e-4)
    model = ai3.swap_backend(nn.Sequential(copy.deepcopy(ref)), device=device)
    torch.testing.assert_close(model(x), expected, atol=1e-4, rtol=1e-4)


# ---- pooling options ---------------------------------------------------------------------------

@pytest.mark.parametrize("divisor", [-3, -1, 2, 7])
def test_avgpool_divisor_override_any_nonzero_as_torch(divisor, device):
    x = torch.randn(2, 3, 9, 8)
    pool = nn.AvgPool2d(3, stride=2, padding=1, divisor_override=divisor)
    expected = pool(x)
    torch.testing.assert_close(L.AvgPool2D.from_torch(pool)(x), expected, atol=1e-5, rtol=1e-5)
    model = ai3.swap_backend(nn.Sequential(pool), sample_input_shape=tuple(x.shape), device=device)
    torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)


def test_avgpool_divisor_override_zero_is_refused_as_torch():
    with pytest.raises(RuntimeError, match="divisor"):
        F.avg_pool2d(torch.randn(1, 1, 4, 4), 2, divisor_override=0)
    with pytest.raises(ai3.InvalidInputError, match="divisor_override"):
        L.AvgPool2D(2, divisor_override=0)


def test_maxpool_return_indices_refusal_names_the_option():
    class Pool(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = nn.MaxPool2d(2, return_indices=True)

        def forward(self, x):
            y, _ = self.pool(x)
            return y

    for net in (nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2, return_indices=True)), Pool()):
        for unsupported in ("error", "torch"):
            with pytest.raises(ai3.UnsupportedError, match="return_indices=True"):
                ai3.swap_backend(net, sample_input_shape=(1, 3, 8, 8), unsupported=unsupported)
    with pytest.raises(ai3.UnsupportedError, match="return_indices"):
        L.MaxPool2D.from_torch(nn.MaxPool2d(2, return_indices=True))
    # swap_conv2d leaves the pool to torch: the network keeps working
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2, return_indices=True))
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        expected = net(x)
        ai3.swap_conv2d(net)
        out = net(x)
    torch.testing.assert_close(out[0], expected[0], atol=1e-5, rtol=1e-5)
    assert torch.equal(out[1], expected[1])


# ---- refusals at swap time --------------------------------------------------------------------

def test_swap_conv2d_refuses_what_the_module_cannot_run_naming_it():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.Conv2d(4, 4, 7, stride=2)))
    with pytest.raises(ai3.UnsupportedError, match=r"1\.0 .*kernel_size=\(7, 7\).*'winograd'"):
        ai3.swap_conv2d(net, "winograd")
    assert all(type(m) is nn.Conv2d for m in net.modules() if isinstance(m, nn.Conv2d))  # nothing swapped
    # a callable choosing winograd only where it applies is fine
    ai3.swap_conv2d(net, lambda m: "winograd" if m.kernel_size == (3, 3) else "direct")
    assert [m.algorithm for m in net.modules() if isinstance(m, ai3.Conv2d)] == ["winograd", "direct"]


# ---- tuning ------------------------------------------------------------------------------------

def _not_guessed(convs, shapes):
    guessed = {c.resolve_for(s) for c, s in zip(convs, shapes)}
    return next(a for a in ("smm", "gemm", "direct", "implicit gemm") if a not in guessed)


def test_tune_a_graph_model(cache_dir):
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    model = ai3.swap_backend(net, sample_input_shape=tuple(x.shape))
    assert model.inputs is not None  # the graph form
    before = model(x)
    winners = ai3.tune(model, x, algorithms=["direct", "smm"], repeats=1, progress=False, save=False)
    convs = {f"layers.{i}": layer for i, layer in enumerate(model.layers) if isinstance(layer, L.Conv2D)}
    assert set(winners) == set(convs) and len(convs) == 20  # resnet18's convs (its 3 downsamples included)
    after = model(x)
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)
    with torch.no_grad():
        torch.testing.assert_close(after, net(x), atol=1e-4, rtol=1e-4)
    for name, layer in convs.items():
        assert layer.resolved_algorithm == winners[name], name


def test_tuned_winners_survive_batchnorm_folding(cache_dir):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)).eval()
    for m in net:
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    x = torch.randn(1, 3, 20, 20)
    shapes = [(1, 3, 20, 20), (1, 8, 20, 20)]
    forced = _not_guessed([ai3.layers.Conv2D.from_torch(net[0]), ai3.layers.Conv2D.from_torch(net[3])], shapes)
    ai3.tune(net, x, algorithms=[forced], repeats=1, progress=False, save=False)
    model = ai3.swap_backend(net)
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv2D)]
    assert len(convs) == 2 and all(c.has_bias for c in convs)  # BN folded: a bias appeared
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x), atol=1e-4, rtol=1e-4)
    assert [c.resolved_algorithm for c in convs] == [forced, forced]
