"""Per-layer activation layouts in ai3.Model's graph (CPU): regions of layers with NHWC kernels
around depthwise convolutions run NHWC, with conversions only where a region meets the rest.
Every result must equal torch's (and the all-NCHW run's), whatever the layouts."""

from __future__ import annotations

import collections

import pytest
import torch
import torchvision
from torch import nn

import ai3

from helpers import DTYPES, assert_layer_close, assert_network_close, dtype_id, randn
from test_models import make


def run_both(model: nn.Module, x: torch.Tensor, monkeypatch, **kw):
    """(output with layouts, output all NCHW, the first Model's value layouts)."""
    fast = ai3.swap_backend(model, sample_input_shape=tuple(x.shape), **kw)
    with torch.no_grad():
        out = fast(x)
    layouts = fast.value_layouts()
    monkeypatch.setenv("AI3_LAYOUTS", "nchw")
    plain = ai3.swap_backend(model, sample_input_shape=tuple(x.shape), **kw)
    with torch.no_grad():
        out_nchw = plain(x)
    assert set(plain.value_layouts()) == {"nchw"}
    monkeypatch.delenv("AI3_LAYOUTS")
    return out, out_nchw, layouts


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "mnasnet1_0",
                                  "shufflenet_v2_x1_0", "convnext_tiny", "regnet_y_400mf"])
def test_depthwise_networks_run_nhwc_regions_with_torchs_results(name, monkeypatch):
    model = make(name, {}, 64)
    x = randn(2, 3, 64, 64, seed=1)
    with torch.no_grad():
        expected = model(x)
    out, out_nchw, layouts = run_both(model, x, monkeypatch)
    assert_network_close(out, expected, msg=name)
    assert_network_close(out, out_nchw, msg=name)
    counts = collections.Counter(layouts)
    if name != "regnet_y_400mf":  # grouped, not depthwise: nothing gains, so all NCHW
        assert counts["nhwc"] > 0, counts
    else:
        assert counts["nhwc"] == 0, counts
    assert counts["nchw"] > 0  # the input, the stem, the head


def test_resnet_stays_nchw(monkeypatch):
    model = make("resnet18", {}, 32)
    x = randn(1, 3, 32, 32)
    out, out_nchw, layouts = run_both(model, x, monkeypatch)
    assert set(layouts) == {"nchw"}
    assert_network_close(out, out_nchw)


def dw(c, stride=1, k=3):
    return nn.Conv2d(c, c, k, stride=stride, padding=k // 2, groups=c)


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = nn.Sequential(dw(c), nn.ReLU6(), nn.Conv2d(c, c, 1))
        self.gate = nn.Parameter(torch.rand(1, c, 1, 1) + 0.5)  # 1x1 planes: stored alike in both layouts

    def forward(self, x):
        return (self.a(x) + x) * self.gate


class ThreeDOperand(nn.Module):
    """A broadcast over a 3-D operand: (C, 1, 1) aligns differently in NHWC, so the add runs NCHW."""

    def __init__(self, c):
        super().__init__()
        self.conv = dw(c)
        self.bias = nn.Parameter(torch.randn(c, 1, 1))

    def forward(self, x):
        return torch.relu(self.conv(x) + self.bias)


class ViewAfterDepthwise(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = dw(c)
        self.fc = nn.Linear(c * 7 * 7, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.conv(x), 1))


class TwoReaders(nn.Module):
    """An NCHW-only layer (a 3x3 dense conv) and an NHWC region both read one NHWC value."""

    def __init__(self, c):
        super().__init__()
        self.d = dw(c)
        self.pw = nn.Conv2d(c, c, 1)
        self.dense = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        y = self.d(x)
        return self.pw(y) + self.dense(y)


CASES = {
    "output is an NHWC value": lambda: nn.Sequential(dw(16), nn.ReLU(), nn.Conv2d(16, 24, 1), dw(24, 2)),
    "residual and 1x1-plane gate": lambda: Residual(16),
    "3-D broadcast operand": lambda: ThreeDOperand(16),
    "view reads the depthwise output": lambda: ViewAfterDepthwise(16),
    "NCHW and NHWC readers of one value": lambda: TwoReaders(16),
    "global average pool head": lambda: nn.Sequential(dw(16), nn.Conv2d(16, 32, 1), nn.AdaptiveAvgPool2d(1),
                                                      nn.Flatten(), nn.Linear(32, 5)),
    "2x2 adaptive pool (NCHW only)": lambda: nn.Sequential(dw(16), nn.ReLU(), nn.AdaptiveAvgPool2d(2)),
    "5x5 stride-2 depthwise, odd channels": lambda: nn.Sequential(nn.Conv2d(16, 21, 1), dw(21, 2, 5), nn.ReLU6(),
                                                                  nn.Conv2d(21, 7, 1)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", list(CASES))
def test_layout_boundaries_give_torchs_results(case, dtype, monkeypatch):
    torch.manual_seed(0)
    model = CASES[case]().to(dtype).eval()
    x = randn(2, 16, 7, 7, dtype=dtype, seed=1)
    with torch.no_grad():
        expected = model(x)
    out, out_nchw, layouts = run_both(model, x, monkeypatch)
    assert_layer_close(out, expected, dtype, msg=case)
    assert_layer_close(out, out_nchw, dtype, msg=case)
    if case == "view reads the depthwise output":
        assert set(layouts) == {"nchw"}  # the value a view reads stays NCHW: no region is left
    else:
        assert "nhwc" in layouts, layouts
    if case == "global average pool head":
        assert layouts[:4] == ["nchw", "nhwc", "nhwc", "nhwc"]  # the pool ran on the NHWC value
    if case == "2x2 adaptive pool (NCHW only)":
        assert layouts == ["nchw", "nhwc", "nhwc", "nchw"]
    if case == "3-D broadcast operand":
        assert layouts[-2:] == ["nchw", "nchw"]  # the add and the relu after it


def test_planes_above_28x28_stay_nchw(monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(dw(8), nn.Conv2d(8, 8, 1), dw(8, 2), nn.Conv2d(8, 8, 1), dw(8)).eval()
    x = randn(1, 8, 56, 56)
    out, out_nchw, layouts = run_both(model, x, monkeypatch)
    # Layers reading or writing 56x56 planes stay NCHW; the 28x28 1x1 and depthwise after them run NHWC.
    assert layouts == ["nchw", "nchw", "nchw", "nchw", "nhwc", "nhwc"]
    with torch.no_grad():
        assert_layer_close(out, model(x))


def test_explicit_algorithms_without_nhwc_kernels_keep_nchw(monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(dw(8), nn.Conv2d(8, 8, 1)).eval()
    x = randn(1, 8, 14, 14)
    fast = ai3.swap_backend(model, {"conv2d": "implicit gemm"}, sample_input_shape=tuple(x.shape))
    with torch.no_grad():
        assert_layer_close(fast(x), model(x))
    assert set(fast.value_layouts()) == {"nchw"}
    fast = ai3.swap_backend(model, {"conv2d": ["direct", "smm"]}, sample_input_shape=tuple(x.shape))
    with torch.no_grad():
        assert_layer_close(fast(x), model(x))
    assert fast.value_layouts() == ["nchw", "nhwc", "nhwc"]
    assert [layer.resolved_algorithm for layer in fast.layers] == ["direct", "smm"]


def test_value_layouts_before_a_forward_and_profile(monkeypatch):
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v3_small().eval()
    x = randn(1, 3, 64, 64)
    fast = ai3.swap_backend(model, sample_input_shape=tuple(x.shape))
    assert fast.value_layouts() is None
    rows = fast.profile(x, repeats=1)
    assert len(rows) == len(fast.layers)
    assert "nhwc" in fast.value_layouts()
    assert ai3.Model([ai3.layers.ReLU()]).value_layouts() is None  # the chain form: NCHW throughout
