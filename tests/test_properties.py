"""Property tests (hypothesis): random conv configurations against torch.

Bounded and deterministic: the conftest profile sets max_examples=60, deadline=None, derandomize=True.
"""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import ai3

from helpers import CONV_IMPLEMENTED, CONV_META, DTYPES, assert_layer_close, conv_refuses, randn


@st.composite
def conv_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    same = sh == sw == 1 and draw(st.booleans())
    if same:
        padding = "same"
        ph = (dh * (kh - 1) + 1) // 2
        pw = (dw * (kw - 1) + 1) // 2
    else:
        ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        padding = (ph, pw)
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    # the input must fit the dilated kernel after padding, and reflect needs padding < size
    h = draw(st.integers(max(1, eh - 2 * ph, ph + 1), max(1, eh - 2 * ph, ph + 1) + 6))
    w = draw(st.integers(max(1, ew - 2 * pw, pw + 1), max(1, ew - 2 * pw, pw + 1) + 6))
    batch = draw(st.sampled_from([None, 1, 2, 3]))
    bias = draw(st.booleans())
    dtype = draw(st.sampled_from(DTYPES))
    algo = draw(st.sampled_from(CONV_IMPLEMENTED + CONV_META))
    seed = draw(st.integers(0, 2**16))
    return dict(cin=cin, cout=cout, k=(kh, kw), stride=(sh, sw), dilation=(dh, dw), padding=padding, mode=mode,
                groups=groups, hw=(h, w), batch=batch, bias=bias, dtype=dtype, algo=algo, seed=seed)


def _build(c):
    torch.manual_seed(c["seed"])
    ref = nn.Conv2d(c["cin"], c["cout"], c["k"], stride=c["stride"], padding=c["padding"], dilation=c["dilation"],
                    groups=c["groups"], bias=c["bias"], padding_mode=c["mode"]).to(c["dtype"])
    shape = (c["cin"], *c["hw"]) if c["batch"] is None else (c["batch"], c["cin"], *c["hw"])
    return ref, randn(*shape, dtype=c["dtype"], seed=c["seed"])


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(conv_configs())
def test_random_conv_swap_conv2d_matches_torch(c):
    ref, x = _build(c)
    m = copy.deepcopy(ref)
    if conv_refuses(c["algo"], ref):  # refused when swapped, not at the first call
        with pytest.raises(ai3.UnsupportedError, match=c["algo"]):
            ai3.swap_conv2d(m, c["algo"])
        return
    ai3.swap_conv2d(m, c["algo"])
    with torch.no_grad():
        assert_layer_close(m(x), ref(x), msg=str(c))
    resolved = m.resolve_for(tuple(x.shape))
    assert resolved in CONV_IMPLEMENTED and not conv_refuses(resolved, ref)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(conv_configs())
def test_random_conv_model_matches_torch(c):
    ref, x = _build(c)
    model = ai3.swap_backend(nn.Sequential(ref), {"conv2d": c["algo"]})
    if conv_refuses(c["algo"], ref):
        with pytest.raises(ai3.UnsupportedError, match=c["algo"]):
            model(x)
        return
    with torch.no_grad():
        assert_layer_close(model(x), ref(x), msg=str(c))
    layer = model.layers[0]
    assert layer.resolved_algorithm in CONV_IMPLEMENTED
    if c["algo"] in CONV_IMPLEMENTED:
        assert layer.resolved_algorithm == c["algo"]
