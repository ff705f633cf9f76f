"""ONNX export of swap_conv2d models with both of torch's exporters: the file holds only
standard ONNX operators (``ai3::conv2d`` becomes ``Conv`` and, for fused ReLU/ReLU6 and
non-zero padding modes, ``Relu``/``Clip``/``Pad``/``Slice``+``Concat``), and ONNX Runtime
runs it to torch's answer, for every conv option and both dtypes (float64, which ONNX
Runtime's CPU provider cannot run, through onnx's reference evaluator)."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch
from torch import nn

import ai3

from helpers import DTYPES, assert_network_close, dtype_id, randn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


class Net(nn.Module):
    """Every conv option ONNX's Conv and Pad must carry."""

    def __init__(self, padding_mode: str = "zeros"):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1, padding_mode=padding_mode)
        self.b = nn.Conv2d(8, 8, 3, stride=2, padding=(2, 1), dilation=(2, 1), groups=4, bias=False,
                           padding_mode=padding_mode)
        self.c = nn.Conv2d(8, 6, (1, 3), padding="same", padding_mode=padding_mode)
        self.d = nn.Conv2d(6, 4, 3)

    def forward(self, x):
        x = torch.relu(self.a(x))
        x = nn.functional.relu6(self.b(x))
        return self.d(self.c(x) + 1)


def _run_ort(proto: bytes, x: torch.Tensor) -> torch.Tensor:
    """The file run by ONNX Runtime; float64, which its CPU provider has no Conv for, by onnx's
    reference evaluator."""
    if x.dtype == torch.float64:
        from onnx.reference import ReferenceEvaluator

        (out,) = ReferenceEvaluator(onnx.load_from_string(proto)).run(None, {_input_name(proto): x.numpy()})
    else:
        session = ort.InferenceSession(proto, providers=["CPUExecutionProvider"])
        (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    return torch.from_numpy(np.asarray(out))


def _input_name(proto: bytes) -> str:
    graph = onnx.load_from_string(proto).graph
    initializers = {i.name for i in graph.initializer}
    return next(i.name for i in graph.input if i.name not in initializers)


def _export(model: nn.Module, x: torch.Tensor, dynamo: bool) -> bytes:
    if dynamo:
        pytest.importorskip("onnxscript")
        program = ai3.export_onnx(model, (x,), dynamo=True, verbose=False)
        return program.model_proto.SerializeToString()
    f = io.BytesIO()
    # The TorchScript exporter through torch.onnx.export itself: import ai3 registered the translation.
    torch.onnx.export(model, (x,), f, dynamo=False, opset_version=17)
    return f.getvalue()


def _ops(proto: bytes) -> set:
    model = onnx.load_from_string(proto)
    onnx.checker.check_model(model)
    return {(n.domain or "", n.op_type) for n in model.graph.node}


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_swapped_model_exports_to_onnx(dynamo, padding_mode, dtype):
    torch.manual_seed(0)
    net = Net(padding_mode).to(dtype).eval()
    x = randn(2, 3, 12, 10, dtype=dtype, seed=1)
    with torch.no_grad():
        expected = net(x)
    swapped = copy.deepcopy(net)
    ai3.swap_conv2d(swapped, ["winograd", "direct", "gemm", "smm"])
    with torch.no_grad():
        assert_network_close(swapped(x), expected)  # the swapped model first runs ai3, as exported
        proto = _export(swapped, x, dynamo)
    ops = _ops(proto)
    assert all(domain == "" for domain, _ in ops), ops  # nothing of ai3's left
    assert ("", "Conv") in ops
    if padding_mode in ("reflect", "replicate"):
        assert ("", "Pad") in ops
    if padding_mode == "circular":
        assert ("", "Concat") in ops
    assert_network_close(_run_ort(proto, x), expected, dtype=dtype)


def test_fused_activations_export():
    """ai3's fused conv+ReLU/ReLU6 (ai3.modules.Sequential) becomes Conv then Relu/Clip."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.ReLU6()).eval()
    x = randn(1, 3, 9, 9, seed=2)
    with torch.no_grad():
        expected = net(x)
    swapped = copy.deepcopy(net)
    ai3.swap_conv2d(swapped)
    graph = torch.export.export(swapped, (x,)).graph
    fused = [n.args[10] for n in graph.nodes if n.target is torch.ops.ai3.conv2d.default]
    assert fused == ["relu", "relu6"]  # the activations really were fused into ai3::conv2d
    for dynamo in (False, True):
        proto = _export(swapped, x, dynamo)
        ops = {op for _, op in _ops(proto)}
        assert {"Conv", "Relu", "Clip"} <= ops, ops
        assert_network_close(_run_ort(proto, x), expected)


def test_export_onnx_keeps_users_translations():
    pytest.importorskip("onnxscript")
    from onnxscript import opset18 as op

    calls = []

    def my_relu(x):
        calls.append(1)
        return op.Relu(x)

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.ReLU()).eval()
    x = randn(1, 3, 6, 6, seed=3)
    ai3.swap_conv2d(net)
    program = ai3.export_onnx(net, (x,), custom_translation_table={torch.ops.aten.relu.default: my_relu})
    assert calls and "Conv" in {n.op_type for n in program.model_proto.graph.node}
