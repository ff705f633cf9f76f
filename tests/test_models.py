"""Real networks through swap_backend (the graph form of ai3.Model) and swap_conv2d.

torchvision classifiers with random weights in eval mode, at reduced input sizes (the
smallest each model allows, so CI stays fast): the ai3 output must match torch's within
max abs error / max abs output < 1e-4, with every conv/linear/pool/activation/batchnorm/
add/cat run by ai3, not torch. BatchNorm statistics are randomised so that folding them
into the convolutions is really tested (fresh ones are the identity map).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn

import ai3

from helpers import MODEL_ATEN, assert_network_close, forbid_torch_ops, randn

#: everything ai3's graph form replaces (MODEL_ATEN plus the graph ops).
GRAPH_ATEN = MODEL_ATEN + (
    "aten::add",
    "aten::add_",
    "aten::mul",
    "aten::mul_",
    "aten::cat",
    "aten::batch_norm",
    "aten::native_batch_norm",
    "aten::_native_batch_norm_legit_no_training",
    "aten::layer_norm",
    "aten::native_layer_norm",
    "aten::sigmoid",
    "aten::silu",
    "aten::hardswish",
    "aten::hardsigmoid",
    "aten::hardtanh",
    "aten::gelu",
    "aten::permute",
    "aten::transpose",
    "aten::view",
    "aten::split",
    "aten::chunk",
)

# (name, constructor kwargs, input size): the smallest size each model takes at batch 2.
MODELS = [
    ("alexnet", {}, 64),
    ("vgg11_bn", {}, 32),
    ("resnet18", {}, 32),
    ("resnet50", {}, 32),
    ("resnext50_32x4d", {}, 32),
    ("wide_resnet50_2", {}, 32),
    ("densenet121", {}, 32),
    ("squeezenet1_1", {}, 32),
    ("googlenet", {"aux_logits": False, "init_weights": True}, 32),
    # 75x75 is inception's minimum, but there the network amplifies rounding enough that the
    # default conv algorithms (Winograd F(4x4) on 3x3 layers) end ~1.1e-4 from torch's float32
    # result (torch's own float32 is 2.6e-5 from float64); 107x107 is better conditioned.
    ("inception_v3", {"aux_logits": False, "init_weights": True}, 107),
    ("mobilenet_v2", {}, 32),
    ("mobilenet_v3_small", {}, 32),
    ("mobilenet_v3_large", {}, 32),
    ("efficientnet_b0", {}, 32),
    ("efficientnet_v2_s", {}, 32),
    ("regnet_y_400mf", {}, 32),
    ("regnet_x_400mf", {}, 32),
    ("shufflenet_v2_x1_0", {}, 32),
    ("mnasnet1_0", {}, 32),
    ("convnext_tiny", {}, 32),
]


def randomize(model: nn.Module, size: int, seed: int = 0) -> nn.Module:
    """Random BatchNorm affine parameters and running statistics measured on random images
    (as training would leave them), so that folding BatchNorm into the convolutions is really
    tested and the output depends on the input: fresh statistics (mean 0, var 1) with random
    weights make deep networks' signal vanish or explode. googlenet's and inception's own init
    (truncated normal, std 0.01) dies out regardless: they get torch's default init."""
    g = torch.Generator().manual_seed(seed)
    if isinstance(model, (torchvision.models.GoogLeNet, torchvision.models.Inception3)):
        torch.manual_seed(seed)
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.reset_parameters()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the calibration batches
        model.train()
        model(torch.randn(16, 3, size, size, generator=g))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                # Channels that were almost constant on the calibration images would amplify
                # rounding errors without bound; keep the network well conditioned.
                m.running_var.add_(0.1 * m.running_var.mean())
    return model.eval()


def make(name: str, kw: dict, size: int = 32) -> nn.Module:
    torch.manual_seed(0)
    return randomize(getattr(torchvision.models, name)(weights=None, **kw), size)


@pytest.mark.parametrize("name,kw,size", MODELS, ids=[m[0] for m in MODELS])
def test_swap_backend_matches_torch(name, kw, size):
    model = make(name, kw, size)
    x = randn(2, 3, size, size, seed=1)
    with torch.no_grad():
        expected = model(x)
    # A non-degenerate reference: the two images give different outputs.
    assert (expected[0] - expected[1]).abs().max() > 1e-3 * expected.abs().max()
    # The sample has batch 1; the Model runs batch 2 (views follow the batch).
    fast = ai3.swap_backend(model, sample_input_shape=(1, 3, size, size))
    with forbid_torch_ops(GRAPH_ATEN):
        out = fast(x)
    assert_network_close(out, expected, msg=name)
    assert not any(layer.op == "torch" for layer in fast.layers)
    # The plan reuses buffers: far fewer buffers than values.
    plan = fast.buffer_plan((2, 3, size, size))
    assert len(plan["slot_bytes"]) < max(4, len(fast.layers) // 3), (len(plan["slot_bytes"]), len(fast.layers))


@pytest.mark.parametrize("name,kw,size", MODELS, ids=[m[0] for m in MODELS])
def test_swap_conv2d_matches_torch(name, kw, size):
    model = make(name, kw, size)
    x = randn(2, 3, size, size, seed=2)
    with torch.no_grad():
        expected = model(x)
        swapped = copy.deepcopy(model)
        ai3.swap_conv2d(swapped)
        assert any(isinstance(m, ai3.Conv2d) for m in swapped.modules())
        with forbid_torch_ops(require=("ai3::conv2d",)):
            out = swapped(x)
    assert_network_close(out, expected, msg=name)


def test_batchnorm_folded_into_conv():
    model = make("resnet18", {})
    fast = ai3.swap_backend(model)
    x = randn(1, 3, 32, 32)
    with torch.no_grad():
        assert_network_close(fast(x), model(x))
    ops = [layer.op for layer in fast.layers]
    assert "batchnorm2d" not in ops  # every BN follows a conv used only by it
    assert ops.count("conv2d") == 20 and ops.count("add") == 8


def test_standalone_batchnorm_in_densenet():
    fast = ai3.swap_backend(make("densenet121", {}))
    ops = [layer.op for layer in fast.layers]
    assert "batchnorm2d" in ops and "cat" in ops  # densenet's BN follows a concat


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "shufflenet_v2_x1_0", "convnext_tiny"])
def test_float64_models(name):
    model = make(name, {})
    x = randn(1, 3, 32, 32, dtype=torch.float64, seed=3)
    with torch.no_grad():
        expected = copy.deepcopy(model).double()(x)
    fast = ai3.swap_backend(model, sample_input_shape=(1, 3, 32, 32), dtype=torch.float64)
    assert fast.dtype == "float64"
    out = fast(x)
    assert out.dtype == torch.float64
    assert_network_close(out, expected, msg=name)


@pytest.mark.parametrize("batch", [1, 3])
def test_batch_sizes_other_than_the_samples(batch):
    model = make("shufflenet_v2_x1_0", {})  # channel shuffle views with the batch size
    fast = ai3.swap_backend(model, sample_input_shape=(2, 3, 32, 32))
    x = randn(batch, 3, 32, 32, seed=4)
    with torch.no_grad():
        expected = model(x)
    assert_network_close(fast(x), expected)


def test_selectors_apply_per_op_type():
    model = make("mobilenet_v2", {})
    seen = []

    def conv_sel(m, shape):
        seen.append(tuple(shape))
        return "direct" if m.groups == m.in_channels and m.groups > 1 else "smm"

    fast = ai3.swap_backend(model, {"conv2d": conv_sel, "add": "direct", "relu6": ["direct"] * 35},
                            sample_input_shape=(1, 3, 32, 32))
    convs = [layer for layer in fast.layers if layer.op == "conv2d"]
    assert len(seen) == len(convs) == 52
    assert {layer.algorithm for layer in convs} == {"direct", "smm"}
    assert all(layer.algorithm == "direct" for layer in fast.layers if layer.op in ("add", "relu6"))
    x = randn(1, 3, 32, 32)
    with torch.no_grad():
        assert_network_close(fast(x), model(x))
    with pytest.raises(ai3.SelectorError, match="relu6"):
        ai3.swap_backend(model, {"relu6": ["direct"] * 3})
