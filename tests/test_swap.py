"""swap_conv2d / swap_backend: the published examples, selectors, module identity, whole networks,
and ai3.Model / ai3.Tensor conversions."""

from __future__ import annotations

import copy
import io
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import ai3
from ai3 import layers as L

from helpers import (
    CONV_ATEN,
    CONV_IMPLEMENTED,
    MODEL_ATEN,
    assert_layer_close,
    assert_network_close,
    eligible,
    forbid_torch_ops,
    randn,
)


class ConvNet(nn.Module):
    """The seed's ConvNet: conv(3->16)-ReLU-MaxPool2-conv(16->32)-ReLU-MaxPool2-pool-flatten-linear.

    Its forward takes batched (N, 3, H, W) and unbatched (3, H, W) input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.avg = nn.AdaptiveAvgPool2d((4, 4))
        self.flatten = nn.Flatten(start_dim=-3)
        self.fc = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(self.flatten(self.avg(x)))


def convnet() -> ConvNet:
    torch.manual_seed(0)
    return ConvNet()


# ---- the seed's examples, verbatim except weights=None -----------------------------------------------

def test_seed_example_swap_conv2d_sequence():
    input_data = torch.randn(10, 3, 224, 224)
    orig = ConvNet()
    orig_out = orig(input_data)
    ai3.swap_conv2d(orig, ['direct', 'smm'])
    sc_out = orig(input_data)
    assert torch.allclose(orig_out, sc_out, atol=1e-6)
    assert (orig.conv1.algorithm, orig.conv2.algorithm) == ("direct", "smm")


def test_seed_example_swap_conv2d_selector():
    seen = []

    def conv2d_selector(orig: torch.nn.Conv2d, input_shape) -> str:
        seen.append(tuple(input_shape))
        out_channels = orig.weight.shape[0]
        if (out_channels < 50 and
                input_shape[0] < 50 and
                input_shape[1] > 150 and
                input_shape[2] > 150):
            return 'direct'
        return 'smm'

    input_data = torch.randn(10, 3, 224, 224)
    orig = ConvNet()
    torch_out = orig(input_data)
    ai3.swap_conv2d(orig, conv2d_selector, (3, 224, 224))
    sc_out = orig(input_data)
    assert torch.allclose(torch_out, sc_out, atol=1e-6)
    assert seen == [(3, 224, 224), (16, 112, 112)]
    assert (orig.conv1.algorithm, orig.conv2.algorithm) == ("direct", "smm")


def test_seed_example_swap_backend_vgg16():
    seen = []

    def auto_selector(orig: torch.nn.Conv2d, input_shape) -> str:
        seen.append(tuple(input_shape))
        out_channels = orig.weight.shape[0]
        if (out_channels < 50 and
                input_shape[1] < 50 and
                input_shape[2] > 150 and
                input_shape[3] > 150):
            return 'direct'
        return 'smm'

    torch.manual_seed(0)
    input_data = torch.randn(1, 3, 224, 224)
    vgg16 = torchvision.models.vgg16(weights=None)
    vgg16 = vgg16.eval()
    with torch.inference_mode():
        torch_out = vgg16(input_data)
        model: ai3.Model = ai3.swap_backend(vgg16, {"conv2d": auto_selector,
                                                    "maxpool2d": "default"},
                                            sample_input_shape=(1, 3, 224, 224))
        sb_out = model(input_data)
        assert torch.allclose(torch_out, sb_out, atol=1e-4)
    assert_network_close(sb_out, torch_out)
    assert len(seen) == 13 and seen[0] == (1, 3, 224, 224) and seen[-1] == (1, 512, 14, 14)
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv2D)]
    assert [c.algorithm for c in convs] == ["smm"] * 13
    assert [c.resolved_algorithm for c in convs] == ["smm"] * 13


# ---- ConvNet, unbatched input, proving ai3 did the work ----------------------------------------------

def test_convnet_unbatched_and_batched(device):
    model = convnet()
    xb = randn(2, 3, 32, 32)
    with torch.no_grad():
        eb, eu = model(xb), model(xb[0])
    ai3.swap_conv2d(model, "default", device=device)
    with torch.no_grad(), forbid_torch_ops(CONV_ATEN, require=["ai3::conv2d"]):
        ob, ou = model(xb), model(xb[0])
    assert_network_close(ob, eb)
    assert_network_close(ou, eu)
    assert ou.shape == (10,)


def test_dispatch_guard_catches_torch_convolution():
    """The guard itself must be able to fail: an unswapped conv runs aten.convolution."""
    model = convnet()
    with pytest.raises(AssertionError, match="aten::convolution"):
        with torch.no_grad(), forbid_torch_ops(CONV_ATEN):
            model(randn(1, 3, 16, 16))
    with pytest.raises(AssertionError, match="addmm|linear|max_pool2d|relu"):
        ai3.swap_conv2d(model)  # convs are ai3's now, but torch still runs the rest
        with torch.no_grad(), forbid_torch_ops(MODEL_ATEN):
            model(randn(1, 3, 16, 16))


# ---- selectors ------------------------------------------------------------------------------------

class Reordered(nn.Module):
    """Registration order (late, early) differs from forward order (early, late)."""

    def __init__(self) -> None:
        super().__init__()
        self.late = nn.Conv2d(8, 4, 1)
        self.early = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        return self.late(F.relu(self.early(x)))


def test_sequence_selector_forward_order_with_sample_shape():
    m = Reordered()
    ai3.swap_conv2d(m, ["direct", "smm"], (1, 3, 8, 8))
    assert (m.early.algorithm, m.late.algorithm) == ("direct", "smm")


def test_sequence_selector_registration_order_without_sample_shape():
    m = Reordered()
    ai3.swap_conv2d(m, ["direct", "smm"])
    assert (m.late.algorithm, m.early.algorithm) == ("direct", "smm")


def test_sequence_selector_swap_backend_forward_order():
    m = Reordered()
    model = ai3.swap_backend(m, {"conv2d": ("gemm", "direct")})
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv2D)]
    assert [c.weight_shape for c in convs] == [(8, 3, 3, 3), (4, 8, 1, 1)]
    assert [c.algorithm for c in convs] == ["gemm", "direct"]
    x = randn(2, 3, 8, 8)
    with torch.no_grad():
        assert_network_close(model(x), m(x))


def test_string_selector_applies_to_all():
    m = convnet()
    ai3.swap_conv2d(m, "gemm")
    assert m.conv1.algorithm == m.conv2.algorithm == "gemm"
    model = ai3.swap_backend(convnet(), {"conv2d": "smm", "linear": "direct", "relu": "direct"})
    for layer in model.layers:
        expected = {"conv2d": "smm", "linear": "direct", "relu": "direct"}.get(layer.op, "default")
        assert layer.algorithm == expected, layer


def test_default_selector_is_default():
    m = convnet()
    ai3.swap_conv2d(m)
    assert m.conv1.algorithm == m.conv2.algorithm == "default"
    assert all(layer.algorithm == "default" for layer in ai3.swap_backend(convnet()).layers)


def test_one_argument_callable_without_sample_shape():
    got = []

    def sel(module):
        got.append(module)
        return "direct" if module.in_channels == 3 else "gemm"

    m = convnet()
    ai3.swap_conv2d(m, sel)
    assert got == [m.conv1, m.conv2]
    assert (m.conv1.algorithm, m.conv2.algorithm) == ("direct", "gemm")


@pytest.mark.parametrize("sample", [(3, 224, 224), (2, 3, 32, 40)], ids=str)
def test_callable_receives_each_convs_input_shape_swap_conv2d(sample):
    got = []

    def sel(module, input_shape):
        got.append((module, tuple(input_shape)))
        return "smm"

    m = convnet()
    ai3.swap_conv2d(m, sel, sample)
    first = tuple(sample)
    second = (*sample[:-3], 16, sample[-2] // 2, sample[-1] // 2)
    assert got == [(m.conv1, first), (m.conv2, second)]
    assert all(p.device.type == "cpu" and not p.is_meta for p in m.parameters())  # shapes only: nothing changed


def test_callable_receives_input_shapes_swap_backend():
    got = {}

    def rec(op):
        def sel(module, input_shape):
            got.setdefault(op, []).append(tuple(input_shape))
            return "default"
        return sel

    ops = ["conv2d", "linear", "maxpool2d", "adaptiveavgpool2d", "relu", "flatten"]
    model = ai3.swap_backend(convnet(), {op: rec(op) for op in ops}, sample_input_shape=(1, 3, 224, 224))
    assert got == {
        "conv2d": [(1, 3, 224, 224), (1, 16, 112, 112)],
        "relu": [(1, 16, 224, 224), (1, 32, 112, 112)],
        "maxpool2d": [(1, 16, 224, 224), (1, 32, 112, 112)],
        "adaptiveavgpool2d": [(1, 32, 56, 56)],
        "flatten": [(1, 32, 4, 4)],
        "linear": [(1, 512)],
    }
    assert [layer.op for layer in model.layers] == ["conv2d", "relu", "maxpool2d", "conv2d", "relu", "maxpool2d",
                                                    "adaptiveavgpool2d", "flatten", "linear"]


class _PlainTensorAttr(nn.Module):
    """A conv whose output is offset by a plain tensor attribute (neither parameter nor buffer)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.offset = torch.randn(1, 4, 1, 1)

    def forward(self, x):
        return self.conv(x) + self.offset


@pytest.mark.parametrize("propagation", ["meta", "fake"])
@pytest.mark.parametrize("model_fn", [convnet, _PlainTensorAttr], ids=["params only", "plain tensor attribute"])
def test_sample_shapes_reach_selectors_whichever_way_they_are_propagated(model_fn, propagation, monkeypatch):
    """swap_backend propagates sample shapes on meta tensors, and on fake tensors where a
    model cannot run on meta ones (forced here by making the meta path fail)."""
    if propagation == "fake":
        def no_meta(*args, **kwargs):
            raise NotImplementedError("no meta kernel (forced by the test)")
        monkeypatch.setattr(torch.nn.utils.stateless, "_reparametrize_module", no_meta)
    got = []

    def sel(module, input_shape):
        got.append(tuple(input_shape))
        return "direct"

    torch.manual_seed(0)
    ref = model_fn().eval()
    model = ai3.swap_backend(ref, {"conv2d": sel}, sample_input_shape=(2, 3, 16, 16), unsupported="torch")
    assert got[0] == (2, 3, 16, 16)
    assert all(p.device.type == "cpu" and not p.is_meta for p in ref.parameters())  # shapes only: nothing changed
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=1e-4, atol=1e-5)


def test_callable_selector_result_is_used_per_module():
    def sel(module, input_shape):
        return {3: "direct", 16: "gemm"}[input_shape[1]]

    model = ai3.swap_backend(convnet(), {"conv2d": sel}, sample_input_shape=(2, 3, 16, 16))
    assert [layer.algorithm for layer in model.layers if layer.op == "conv2d"] == ["direct", "gemm"]


# ---- module identity after swap_conv2d -------------------------------------------------------------

def test_state_dict_and_parameters_unchanged():
    m = convnet()
    keys = list(m.state_dict().keys())
    values = {k: v.clone() for k, v in m.state_dict().items()}
    params = [id(p) for p in m.parameters()]
    names = [n for n, _ in m.named_parameters()]
    ai3.swap_conv2d(m, ["direct", "smm"])
    assert list(m.state_dict().keys()) == keys
    assert all(torch.equal(v, values[k]) for k, v in m.state_dict().items())
    assert [id(p) for p in m.parameters()] == params
    assert [n for n, _ in m.named_parameters()] == names
    assert isinstance(m.conv1, nn.Conv2d) and type(m.conv1) is ai3.Conv2d
    # load_state_dict into a swapped model works and is used
    other = convnet()
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(-1)
    m.load_state_dict(other.state_dict())
    x = randn(1, 3, 16, 16)
    with torch.no_grad():
        assert_network_close(m(x), other(x))


def test_swap_twice_changes_only_algorithm():
    m = convnet()
    ai3.swap_conv2d(m, "direct")
    params = [id(p) for p in m.parameters()]
    x = randn(2, 3, 16, 16)
    with torch.no_grad():
        first = m(x)
    conv1 = m.conv1
    ai3.swap_conv2d(m, ["smm", "gemm"])
    assert m.conv1 is conv1 and type(m.conv1) is ai3.Conv2d
    assert (m.conv1.algorithm, m.conv2.algorithm) == ("smm", "gemm")
    assert [id(p) for p in m.parameters()] == params
    with torch.no_grad():
        assert_network_close(m(x), first)


def test_swap_conv2d_on_a_bare_conv():
    conv = nn.Conv2d(3, 5, 3, stride=2)
    ref = copy.deepcopy(conv)
    ai3.swap_conv2d(conv, "smm")
    assert type(conv) is ai3.Conv2d and conv.algorithm == "smm"
    x = randn(2, 3, 9, 9)
    with torch.no_grad():
        assert_layer_close(conv(x), ref(x))


def test_conv2d_subclass_left_alone_with_warning():
    class MyConv(nn.Conv2d):
        pass

    m = nn.Sequential(MyConv(3, 4, 3), nn.Conv2d(4, 4, 3))
    with pytest.warns(UserWarning, match="MyConv"):
        ai3.swap_conv2d(m, "direct")
    assert type(m[0]) is MyConv and type(m[1]) is ai3.Conv2d


def test_deepcopy_and_pickle_of_swapped_model():
    m = convnet()
    ai3.swap_conv2d(m, ["direct", "gemm"])
    x = randn(1, 3, 16, 16)
    with torch.no_grad():
        expected = m(x)
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert type(clone.conv1) is ai3.Conv2d and clone.conv2.algorithm == "gemm"
        with torch.no_grad():
            assert_network_close(clone(x), expected)
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    fresh = convnet()
    fresh.load_state_dict(torch.load(buf))
    with torch.no_grad():
        assert_network_close(fresh(x), expected)


class TrainNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.3),
                                  nn.Conv2d(8, 8, 3, stride=2, padding=1, padding_mode="circular"), nn.ReLU())
        self.head = nn.Linear(8 * 4 * 4, 3)

    def forward(self, x):
        return self.head(torch.flatten(self.body(x), 1))


@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_train_mode_forward_backward_and_optimizer(algo):
    torch.manual_seed(0)
    ref = TrainNet().double()
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, eligible(algo))  # (winograd only where it applies)
    assert m.body[0].algorithm == algo
    opt_r = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt_m = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    x = randn(4, 3, 8, 8, dtype=torch.float64)
    target = randn(4, 3, dtype=torch.float64, seed=5)
    for step in range(3):
        for net, opt in ((ref, opt_r), (m, opt_m)):
            torch.manual_seed(100 + step)  # same dropout masks
            opt.zero_grad()
            out = net(x)
            F.mse_loss(out, target).backward()
            opt.step()
            net.last = out.detach()
        assert_network_close(m.last, ref.last)
    for (n, p), (_, q) in zip(m.named_parameters(), ref.named_parameters()):
        assert_network_close(p, q, msg=n)
    assert_network_close(m.body[1].running_mean, ref.body[1].running_mean)
    # eval mode too
    m.eval(), ref.eval()
    with torch.no_grad():
        assert_network_close(m(x), ref(x))


def test_model_to_float64_then_run():
    m = convnet()
    ref = copy.deepcopy(m).double()
    ai3.swap_conv2d(m, ["smm", "direct"])
    m = m.to(torch.float64)
    assert m.conv1.weight.dtype == torch.float64
    x = randn(2, 3, 20, 20, dtype=torch.float64)
    with torch.no_grad():
        out = m(x)
        expected = ref(x)
    assert out.dtype == torch.float64
    assert_network_close(out, expected)


# ---- swap_backend on whole networks ---------------------------------------------------------------

def _check_backend(torch_model: nn.Module, shape, algos=None, **kw):
    torch_model.eval()
    x = randn(*shape)
    with torch.no_grad():
        expected = torch_model(x)
    model = ai3.swap_backend(torch_model, algos, **kw)
    assert isinstance(model, ai3.Model)
    with forbid_torch_ops(MODEL_ATEN):
        out = model(x)
    assert isinstance(out, torch.Tensor)
    assert_network_close(out, expected)
    return model


def test_swap_backend_vgg11():
    torch.manual_seed(0)
    vgg = torchvision.models.vgg11(weights=None)
    model = _check_backend(vgg, (2, 3, 64, 64))  # the adaptive pool upsamples 2x2 to 7x7
    assert [layer.op for layer in model.layers].count("conv2d") == 8
    assert "dropout" not in repr(model).lower()


def test_swap_backend_alexnet():
    torch.manual_seed(0)
    _check_backend(torchvision.models.alexnet(weights=None), (1, 3, 96, 96), {"conv2d": "gemm"})


def test_swap_backend_does_not_modify_the_module():
    m = convnet()
    before = copy.deepcopy(m.state_dict())
    ai3.swap_backend(m, {"conv2d": "direct"})
    assert type(m.conv1) is nn.Conv2d
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())


def test_swap_backend_weights_are_copied():
    """The Model owns its parameters: later changes to the torch module do not leak in."""
    m = convnet().eval()
    x = randn(1, 3, 16, 16)
    with torch.no_grad():
        expected = m(x)
    model = ai3.swap_backend(m)
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
    assert_network_close(model(x), expected)


class FunctionalNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3)
        self.fc = nn.Linear(6 * 2 * 2, 5)
        self.drop = nn.Dropout(0.5)
        self.ident = nn.Identity()

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = F.max_pool2d(x, 2, ceil_mode=True)
        x = self.ident(torch.relu(self.conv2(x)))
        x = F.avg_pool2d(x, kernel_size=2, stride=1, padding=1, count_include_pad=False)
        x = F.adaptive_avg_pool2d(x, (2, 2))
        x = F.dropout(x, 0.2, self.training)
        x = self.drop(torch.flatten(x, 1))
        return self.fc(x).relu()


def test_swap_backend_functional_ops_and_dropped_noops():
    model = _check_backend(FunctionalNet(), (3, 3, 13, 11))
    assert [layer.op for layer in model.layers] == ["conv2d", "relu", "maxpool2d", "conv2d", "relu", "avgpool2d",
                                                    "adaptiveavgpool2d", "flatten", "linear", "relu"]


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return F.relu(self.conv(x) + x)


class Branching(nn.Module):
    """Not a chain: conv2 reads the input, not conv1's result (which is dead)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        y = F.relu(self.conv1(x))
        return self.conv2(x) if y is not None else y


@pytest.mark.parametrize("net", [Residual, Branching])
def test_swap_backend_runs_non_chain_models(net):
    model = _check_backend(net(), (2, 3, 8, 8))
    assert model.inputs is not None  # the graph form


@pytest.mark.parametrize("bad,path,typename", [
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm1d(4)), "'1'", "BatchNorm1d"),
    (nn.Sequential(OrderedDict(block=nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Tanh()))), "block.2", "Tanh"),
    (nn.Sequential(nn.Flatten(), nn.LSTM(4, 4)), "'1'", "LSTM"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.ELU()), "'1'", "ELU"),
], ids=["batchnorm1d", "nested_tanh", "lstm", "elu"])
def test_swap_backend_unsupported_module_names_path_and_type(bad, path, typename):
    with pytest.raises(ai3.UnsupportedError) as ei:
        ai3.swap_backend(bad)
    msg = str(ei.value)
    assert path in msg and typename in msg, msg


@pytest.mark.parametrize("dtype", [torch.float64, "float64", np.float64], ids=["torch", "str", "numpy"])
def test_swap_backend_dtype_float64(dtype):
    m = convnet().eval()
    model = ai3.swap_backend(m, {"conv2d": "direct"}, dtype=dtype)
    assert model.dtype == "float64"
    x = randn(2, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        expected = copy.deepcopy(m).double()(x)
    out = model(x)
    assert out.dtype == torch.float64
    assert_network_close(out, expected)
    with pytest.raises(ai3.DTypeError):
        model(x.float())


def test_swap_backend_float64_module():
    m = convnet().double().eval()
    model = ai3.swap_backend(m)
    assert model.dtype == "float64"
    x = randn(1, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        assert_network_close(model(x), m(x))


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_batch_size_other_than_the_samples(batch):
    m = convnet().eval()
    model = ai3.swap_backend(m, {"conv2d": lambda mod, shape: "direct" if shape[1] == 3 else "smm"},
                             sample_input_shape=(3, 3, 32, 32))
    for shape in ((batch, 3, 32, 32), (batch, 3, 24, 40)):
        x = randn(*shape)
        with torch.no_grad():
            assert_network_close(model(x), m(x))
    # swap_conv2d too
    ref = copy.deepcopy(m)
    ai3.swap_conv2d(m, lambda mod, shape: "gemm", (3, 3, 32, 32))
    x = randn(batch, 3, 16, 16)
    with torch.no_grad():
        assert_network_close(m(x), ref(x))


def test_swap_backend_of_a_swap_conv2d_model():
    """A model whose convs swap_conv2d already swapped is still a torch model swap_backend can take."""
    m = convnet().eval()
    ai3.swap_conv2d(m, ["direct", "smm"])
    model = ai3.swap_backend(m)
    x = randn(2, 3, 16, 16)
    with torch.no_grad():
        assert_network_close(model(x), m(x))


def test_model_runs_repeatedly_with_changing_shapes():
    m = convnet().eval()
    model = ai3.swap_backend(m)
    for shape in ((1, 3, 16, 16), (3, 3, 20, 12), (1, 3, 16, 16), (2, 3, 8, 8)):
        x = randn(*shape, seed=shape[0])
        with torch.no_grad():
            assert_network_close(model(x), m(x))


# ---- ai3.Model and ai3.Tensor conversions --------------------------------------------------------

@pytest.fixture
def small_model():
    torch.manual_seed(0)
    tm = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 6)).eval()
    return tm, ai3.swap_backend(tm)


def test_predict_out_types(small_model):
    tm, model = small_model
    x = randn(2, 3, 6, 6)
    with torch.no_grad():
        expected = tm(x)
    t = model.predict(x)
    assert isinstance(t, ai3.Tensor)
    assert tuple(t.shape) == (2, 6) and t.dtype == "float32"
    for out_type, cls in ((None, ai3.Tensor), (ai3.Tensor, ai3.Tensor), (torch.Tensor, torch.Tensor),
                          (np.ndarray, np.ndarray)):
        out = model.predict(x, out_type) if out_type is not None else model.predict(x)
        assert type(out) is cls or isinstance(out, cls), (out_type, type(out))
        assert_layer_close(out, expected)
    for inp in (x, x.numpy(), ai3.Tensor(x.numpy())):
        assert_layer_close(model.predict(inp, torch.Tensor), expected)


def test_model_call_returns_input_kind(small_model):
    tm, model = small_model
    x = randn(2, 3, 6, 6)
    with torch.no_grad():
        expected = tm(x)
    assert isinstance(model(x), torch.Tensor)
    assert isinstance(model(x.numpy()), np.ndarray)
    assert isinstance(model(ai3.Tensor(x.numpy())), ai3.Tensor)
    for inp in (x, x.numpy(), ai3.Tensor(x.numpy())):
        assert_layer_close(model(inp), expected)


def test_tensor_numpy_and_torch_share_memory(small_model):
    _, model = small_model
    t = model.predict(randn(1, 3, 6, 6))
    a, b = t.numpy(), t.torch()
    assert isinstance(a, np.ndarray) and isinstance(b, torch.Tensor)
    assert a.shape == tuple(t.shape) and tuple(b.shape) == tuple(t.shape)
    a[0, 0] = 123.0
    assert b[0, 0].item() == 123.0
    assert np.asarray(t)[0, 0] == 123.0
    b[0, 1] = -7.0
    assert a[0, 1] == -7.0
    assert t.to(np.ndarray)[0, 1] == -7.0 and t.to(torch.Tensor)[0, 0].item() == 123.0


def test_tensor_outlives_views_and_outputs_are_independent(small_model):
    import gc

    tm, model = small_model
    x1, x2 = randn(2, 3, 6, 6, seed=1), randn(2, 3, 6, 6, seed=2)
    out1 = model(x1)
    keep = out1.clone()
    out2 = model(x2)  # must not overwrite out1's memory (no shared output buffer)
    view = model.predict(x1).torch()  # the ai3.Tensor itself is dropped here
    gc.collect()
    junk = [model(randn(2, 3, 6, 6, seed=s)) for s in range(5)]  # reuse freed memory
    assert torch.equal(out1, keep)
    assert torch.equal(view, keep)
    with torch.no_grad():
        assert_layer_close(out2, tm(x2))
    del junk


@pytest.mark.parametrize("dtype,fmt", [(np.float32, "f"), (np.float64, "d")])
def test_memoryview_and_tensor_from_numpy(dtype, fmt):
    arr = np.arange(24, dtype=dtype).reshape(2, 3, 4)
    t = ai3.Tensor(arr)
    mv = memoryview(t)
    assert mv.shape == (2, 3, 4) and mv.format == fmt and mv.itemsize == np.dtype(dtype).itemsize
    assert mv.ndim == 3 and mv.nbytes == arr.nbytes and mv.c_contiguous
    assert tuple(t.shape) == (2, 3, 4) and t.dtype == np.dtype(dtype).name
    np.testing.assert_array_equal(t.numpy(), arr)
    arr[0, 0, 0] = 99  # ai3.Tensor(np array) copies
    assert t.numpy()[0, 0, 0] == 0
    assert t.torch().dtype == (torch.float32 if dtype == np.float32 else torch.float64)


def test_tensor_from_non_contiguous_numpy():
    arr = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    t = ai3.Tensor(arr)
    np.testing.assert_array_equal(t.numpy(), arr)


def test_model_layers_and_repr(small_model):
    _, model = small_model
    assert [layer.op for layer in model.layers] == ["conv2d", "relu", "flatten", "linear"]
    assert all(isinstance(layer, L.Layer) for layer in model.layers)
    assert "Conv2D" in repr(model)
    assert model.out_shape((5, 3, 6, 6)) == (5, 6)


def test_swapped_conv_reports_what_default_resolved_to():
    conv = nn.Conv2d(16, 16, 3, padding=1)
    ai3.swap_conv2d(conv, "default")
    assert conv.resolved_algorithm is None
    x = torch.randn(1, 16, 12, 12)
    with torch.no_grad():
        conv(x)
    resolved = conv.resolved_algorithm
    assert resolved == conv.resolve_for(x.shape)
    assert resolved in {a for op, a, b, d in ai3._core.registry_entries() if op == "conv2d"}
    assert f"algorithm='default' -> '{resolved}'" in repr(conv)
    ai3.swap_conv2d(conv, "smm")
    with torch.no_grad():
        conv(x)
    assert conv.resolved_algorithm == "smm" and "algorithm='smm'," in repr(conv)
