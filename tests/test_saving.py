"""Saving and copying an ai3.Model: pickle, copy.deepcopy, torch.save/torch.load (both the
full unpickle and the weights_only route through Model.state), in this process and in a
fresh one that never sees the original nn.Module."""

from __future__ import annotations

import copy
import io
import os
import pickle
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ai3
from ai3 import layers as L

from helpers import device_names


class EveryGraphOp(nn.Module):
    """A small network whose swap_backend graph holds every graph layer type."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 1, bias=False)
        self.c3 = nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect")
        self.bn = nn.BatchNorm2d(8)  # after an add: kept as a layer, not folded
        self.ln = nn.LayerNorm(8)
        self.gamma = nn.Parameter(torch.rand(8) + 0.5)
        self.fc = nn.Linear(8, 5)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-1, 1)
            self.bn.running_var.uniform_(0.5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.c1(x)
        z = F.relu6(self.c2(y)) + y
        z = self.bn(z)
        a, b = z.chunk(2, dim=1)
        z = torch.cat([F.silu(a), F.hardswish(b)], 1) * torch.sigmoid(z) + F.hardsigmoid(z)
        z = F.gelu(self.c3(z))
        z = z.permute(0, 2, 3, 1)
        z = self.ln(z) * self.gamma
        z = z.transpose(1, 3)
        z = F.avg_pool2d(F.max_pool2d(z, 2), 2, divisor_override=3)
        z = F.adaptive_avg_pool2d(z, 2).mean((2, 3))
        return self.fc(z.reshape(z.shape[0], -1))


def chain_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, stride=2),
                         nn.AvgPool2d(2, ceil_mode=True), nn.AdaptiveAvgPool2d((3, 2)), nn.Flatten(),
                         nn.Linear(48, 10))


def _models(device: str = "cpu"):
    torch.manual_seed(0)
    graph = ai3.swap_backend(EveryGraphOp().eval(), sample_input_shape=(2, 3, 16, 16), device=device)
    chain = ai3.Model([L.Conv2D.from_torch(m, "smm") if isinstance(m, nn.Conv2d) else
                       type(_layer_for(m)).from_torch(m) for m in chain_net().eval()], device=device)
    return {"graph": graph, "chain": chain}


def _layer_for(m: nn.Module) -> L.Layer:
    kinds = {nn.ReLU: L.ReLU, nn.MaxPool2d: L.MaxPool2D, nn.AvgPool2d: L.AvgPool2D,
             nn.AdaptiveAvgPool2d: L.AdaptiveAvgPool2D, nn.Flatten: L.Flatten, nn.Linear: L.Linear}
    return kinds[type(m)].from_torch(m)


def _roundtrips(model: ai3.Model):
    yield "pickle", pickle.loads(pickle.dumps(model))
    yield "deepcopy", copy.deepcopy(model)
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    yield "torch.save", torch.load(buf, weights_only=False)
    buf = io.BytesIO()
    torch.save(model.state(), buf)
    buf.seek(0)
    yield "weights_only", ai3.Model.from_state(torch.load(buf, weights_only=True))


def test_the_graph_covers_every_graph_layer_type():
    types = {type(layer).__name__ for layer in _models()["graph"].layers}
    graph_types = {"Conv2D", "BatchNorm2D", "ReLU6", "Add", "Split", "SiLU", "Hardswish", "Cat", "Sigmoid",
                   "Mul", "Hardsigmoid", "GELU", "Permute", "LayerNorm", "Constant", "MaxPool2D", "AvgPool2D",
                   "AdaptiveAvgPool2D", "Mean", "Reshape", "Linear"}
    assert graph_types <= types, graph_types - types


@pytest.mark.parametrize("device", device_names())
@pytest.mark.parametrize("form", ["graph", "chain"])
def test_saved_models_match_the_original(form, device):
    model = _models(device)[form]
    x = torch.randn(2, 3, 16, 16)
    expected = model(x)
    for how, loaded in _roundtrips(model):
        assert loaded is not model and type(loaded) is ai3.Model, how
        assert loaded.device == model.device and loaded.inputs == model.inputs and loaded.output == model.output
        assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers], how
        assert [a.algorithm for a in loaded.layers] == [b.algorithm for b in model.layers], how
        # Same algorithms, same parameters: the same numbers, not merely close ones.
        torch.testing.assert_close(loaded(x), expected, atol=0, rtol=0, msg=how)
        for a, b in zip(loaded.layers, model.layers):
            assert a.resolved_algorithm == b.resolved_algorithm, (how, a, b)


def test_a_saved_model_owns_its_parameters():
    model = _models()["graph"]
    x = torch.randn(2, 3, 16, 16)
    expected = model(x)
    loaded = copy.deepcopy(model)
    del model
    torch.testing.assert_close(loaded(x), expected, atol=0, rtol=0)


def test_tuned_choices_survive_saving_in_a_fresh_process(tmp_path, monkeypatch):
    """Tune, save with torch.save, load in a new process with an empty tuning cache: the
    loaded Model runs the tuned winners, not guess's choice."""
    monkeypatch.setenv("AI3_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1)).eval()
    model = ai3.swap_backend(net)
    x = torch.randn(1, 3, 20, 20)
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv2D)]
    # A candidate guess does not pick for these layers, so the test tells the two apart.
    guessed = {c.resolve_for(s) for c, s in zip(convs, [(1, 3, 20, 20), (1, 8, 20, 20)])}
    forced = next(a for a in ("smm", "gemm", "direct", "implicit gemm") if a not in guessed)
    try:
        ai3.tune(model, x, algorithms=[forced], repeats=1, progress=False, save=False)
        expected = model(x)
        assert [c.resolved_algorithm for c in convs] == [forced, forced]
        path = tmp_path / "model.pt"
        torch.save(model, path)
    finally:
        ai3._core.clear_tuned()
        ai3.tuning._forget_resolutions(model)
    torch.save(x, tmp_path / "x.pt")
    code = (
        "import sys, torch, ai3\n"
        "m = torch.load(sys.argv[1], weights_only=False)\n"
        "x = torch.load(sys.argv[2])\n"
        "y = m(x)\n"
        "print(','.join(l.resolved_algorithm for l in m.layers if l.op == 'conv2d'))\n"
        "torch.save(y, sys.argv[3])\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "x.pt"), str(tmp_path / "y.pt")],
                         capture_output=True, text=True, env=dict(os.environ), check=True).stdout.strip()
    assert out == f"{forced},{forced}"
    torch.testing.assert_close(torch.load(tmp_path / "y.pt"), expected, atol=0, rtol=0)


def test_torch_function_nodes_pickle_but_not_weights_only():
    class Erf(nn.Module):
        def forward(self, x):
            return torch.special.erf(x).clamp(min=-0.5)

    net = nn.Sequential(nn.Conv2d(3, 4, 3), Erf()).eval()
    model = ai3.swap_backend(net, sample_input_shape=(1, 3, 8, 8), unsupported="torch")
    assert any(isinstance(layer, L.TorchFunction) for layer in model.layers)
    x = torch.randn(1, 3, 8, 8)
    torch.testing.assert_close(pickle.loads(pickle.dumps(model))(x), model(x), atol=0, rtol=0)
    buf = io.BytesIO()
    torch.save(model.state(), buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buf, weights_only=True)


def test_bad_states_are_refused():
    with pytest.raises(ai3.InvalidInputError, match="ai3.Model state"):
        ai3.Model.from_state({"version": 99})
    with pytest.raises(ai3.InvalidInputError, match="ai3.Model state"):
        ai3.Model.from_state([1, 2])
    for bad in ([1, 2], "Conv2D", None):  # a layer state that is not a dict at all
        with pytest.raises(ai3.InvalidInputError, match="not an ai3 layer state"):
            ai3.layers.Layer.from_state(bad)
    state = _models()["chain"].state()
    state["layers"][0]["type"] = "NoSuchLayer"
    with pytest.raises(ai3.InvalidInputError, match="NoSuchLayer"):
        ai3.Model.from_state(state)
    state = _models()["chain"].state()
    state["resolved"] = {"conv2d|whatever": "fastest"}
    with pytest.raises(ai3.UnknownAlgorithmError, match="fastest"):
        ai3.Model.from_state(state)
