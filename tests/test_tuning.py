"""ai3.tune, the tuned-winner cache that `default` reads, and guess's calibration."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

import ai3
from ai3 import layers as L


def small_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(),
        nn.Conv2d(16, 16, 1),
    )


def conv_modules(m):
    return [c for c in m.modules() if isinstance(c, nn.Conv2d)]


def test_tune_forced_candidate_drives_default(cache_dir):
    net = small_net()
    winners = ai3.tune(net, torch.randn(2, 3, 16, 16), algorithms=["smm"], repeats=1, progress=False)
    assert winners == {"0": "smm", "3": "smm", "5": "smm"}
    ai3.swap_conv2d(net, "default")
    shapes = [(2, 3, 16, 16), (2, 8, 8, 8), (2, 16, 8, 8)]
    assert [c.resolve_for(s) for c, s in zip(conv_modules(net), shapes)] == ["smm"] * 3
    # a shape that was not tuned falls back to guess, whatever guess picks
    assert conv_modules(net)[0].resolve_for((5, 3, 16, 16)) in ai3.tuning.candidate_algorithms("float32")


def test_tune_picks_the_fastest_measured_and_persists(cache_dir):
    net = small_net()
    winners = ai3.tune(net, torch.randn(1, 3, 16, 16), repeats=1, progress=False)
    data = json.loads((cache_dir / "tuned.json").read_text())
    entries = data["isa"][ai3._core.cpu_isa()]
    assert len(entries) == 3
    for key, rec in entries.items():
        times = rec["seconds"]
        assert rec["algorithm"] == min(times, key=times.get)
        # every candidate was timed, except winograd on the layers it refuses (5x5, 1x1)
        expected = set(ai3.tuning.candidate_algorithms("float32"))
        if "x3x3|" not in key:
            expected.discard("winograd")
        assert set(times) == expected, key
    assert set(winners.values()) <= set(ai3.tuning.candidate_algorithms("float32"))
    # a later process resolves `default` to the stored winners
    code = (
        "import torch, ai3\nfrom torch import nn\n"
        "net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),"
        " nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.Conv2d(16, 16, 1))\n"
        "ai3.swap_conv2d(net, 'default')\n"
        "cs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]\n"
        "print(','.join(c.resolve_for(s) for c, s in zip(cs, [(1,3,16,16),(1,8,8,8),(1,16,8,8)])))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         check=True).stdout.strip()
    assert out.split(",") == [winners["0"], winners["3"], winners["5"]]


def test_tune_an_ai3_model_and_its_output_is_unchanged(cache_dir):
    torch.manual_seed(0)
    net = small_net().eval()
    x = torch.randn(1, 3, 16, 16)
    model = ai3.swap_backend(net)
    before = model(x)
    winners = ai3.tune(model, x, algorithms=["direct", "implicit gemm"], repeats=1, progress=False)
    assert set(winners) == {"layers.0", "layers.3", "layers.5"}
    after = model(x)
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv2D)]
    assert [c.resolved_algorithm for c in convs] == [winners["layers.0"], winners["layers.3"], winners["layers.5"]]
    torch.testing.assert_close(after, net(x), atol=1e-4, rtol=1e-4)


def test_tune_rejects_bad_input(cache_dir):
    with pytest.raises(ai3.InvalidInputError, match="nn.Module or an ai3.Model"):
        ai3.tune("vgg16", (1, 3, 8, 8), progress=False)
    with pytest.raises(ai3.UnknownAlgorithmError, match="fastest"):
        ai3.tune(small_net(), (1, 3, 16, 16), algorithms=["fastest"], progress=False)
    assert ai3.tune(nn.Sequential(nn.ReLU()), (1, 3, 4, 4), progress=False) == {}


def test_corrupt_cache_is_ignored(cache_dir):
    (cache_dir / "tuned.json").write_text("{not json")
    assert ai3.tuning.load_cache() == 0
    ai3.tune(small_net(), (1, 3, 16, 16), algorithms=["gemm"], repeats=1, progress=False)
    assert json.loads((cache_dir / "tuned.json").read_text())["version"] == ai3.tuning._CACHE_VERSION


def test_calibrate_installs_and_persists_measured_constants(cache_dir):
    builtin = ai3._core.cost_constants("float32")
    assert builtin["measured"] == 0.0
    measured = ai3.calibrate(["float32"])
    c = measured["float32"]
    assert c["measured"] == 1.0
    assert ai3._core.cost_constants("float32") == pytest.approx(c)
    for key in ("gemm_rate", "direct_rate", "winograd_rate", "bandwidth"):
        assert 1e8 < c[key] < 1e14, key  # physically plausible rates (FLOP/s, bytes/s)
    code = "import ai3; print(ai3._core.cost_constants('float32')['gemm_rate'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         check=True).stdout
    assert float(out) == pytest.approx(c["gemm_rate"])
    ai3._core.set_cost_constants("float32", builtin)


@pytest.mark.parametrize("cfg", [
    dict(c=3, k=64, ks=3, hw=32),                 # few input channels
    dict(c=32, k=32, ks=3, hw=16, groups=32),     # depthwise
    dict(c=64, k=128, ks=1, hw=14),               # pointwise
    dict(c=16, k=16, ks=5, hw=12, stride=2),      # winograd cannot run this
])
def test_guess_is_a_concrete_applicable_algorithm(cfg):
    conv = nn.Conv2d(cfg["c"], cfg["k"], cfg["ks"], stride=cfg.get("stride", 1), groups=cfg.get("groups", 1),
                     padding=cfg["ks"] // 2)
    x = torch.randn(1, cfg["c"], cfg["hw"], cfg["hw"])
    ref = conv(x)
    ai3.swap_conv2d(conv, "guess")
    picked = conv.resolve_for(x.shape)
    assert picked in ai3.tuning.candidate_algorithms("float32")
    if cfg["ks"] != 3 or cfg.get("stride", 1) != 1:
        assert picked != "winograd"
    torch.testing.assert_close(conv(x), ref, atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_one_openmp_runtime_shared_with_torch():
    if ai3._core.build_info()["threads"] != "OpenMP":
        pytest.skip("built without OpenMP")
    code = ("import torch, ai3\n"
            "print(len({l.split()[-1] for l in open('/proc/self/maps') if 'libgomp' in l}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1", "ai3 and torch must share one OpenMP runtime"


def test_tune_a_chain_model_replans_its_fusion(cache_dir):
    # The chain plans conv+pool fusion from what the conv resolved to (winograd fuses a
    # 2x2 max pool, smm cannot): after tuning changes the winner, the plan must follow.
    torch.manual_seed(0)
    conv, pool = nn.Conv2d(8, 8, 3, padding=1), nn.MaxPool2d(2)
    chain = ai3.Model([L.Conv2D.from_torch(conv, "default"), L.MaxPool2D.from_torch(pool)])
    x = torch.randn(1, 8, 16, 16)
    expected = pool(conv(x)).detach()
    for algo in ("winograd", "smm"):
        ai3.tune(chain, x, algorithms=[algo], repeats=1, progress=False, save=False)
        torch.testing.assert_close(chain(x), expected, atol=1e-4, rtol=1e-4)
        assert chain.layers[0].resolved_algorithm == algo
