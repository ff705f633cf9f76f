"""ONNX export of swapped models: ``ai3::conv2d`` written as a standard ONNX ``Conv``.

A model from :func:`ai3.swap_conv2d` calls the ``ai3::conv2d`` operator, which no ONNX
runtime knows. Both of torch's exporters learn here to write it as what it computes:
``Pad`` (``reflect``/``edge``; ``circular`` as slices and a ``Concat``, which every opset
has) when the padding mode is not zeros, ``Conv`` with the layer's strides, pads,
dilations and groups, and ``Relu`` or ``Clip(0, 6)`` for a fused activation. The
algorithm is an ai3 choice, not part of the math, so the file is the same whichever
algorithm a layer ran: a swapped, tuned or trained model ships as an ordinary ONNX file.

- The TorchScript exporter (``torch.onnx.export(..., dynamo=False)``) finds the
  translation by itself: ``import ai3`` registers it.
- The dynamo exporter (torch's default) takes translations per call:
  ``torch.onnx.export(model, args, custom_translation_table=ai3.onnx_translation_table())``,
  or :func:`export_onnx`, which passes it for you. It needs ``onnxscript``, as torch's does.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence

import torch

_INT64_MAX = 2**63 - 1
_PAD_MODES = {"reflect": "reflect", "replicate": "edge"}  # torch's name -> ONNX Pad's mode


def _onnx_pads(padding: Sequence[int]) -> list:
    # ai3's (top, bottom, left, right) -> ONNX's (begin H, begin W, end H, end W)
    top, bottom, left, right = padding
    return [top, left, bottom, right]


# ---- TorchScript exporter -------------------------------------------------------------------

def _ts_const(g: Any, values: Sequence[int]) -> Any:
    return g.op("Constant", value_t=torch.tensor(list(values), dtype=torch.int64))


def _ts_circular(g: Any, x: Any, axis: int, before: int, after: int) -> Any:
    parts = []
    if before:
        parts.append(g.op("Slice", x, _ts_const(g, [-before]), _ts_const(g, [_INT64_MAX]), _ts_const(g, [axis])))
    parts.append(x)
    if after:
        parts.append(g.op("Slice", x, _ts_const(g, [0]), _ts_const(g, [after]), _ts_const(g, [axis])))
    return g.op("Concat", *parts, axis_i=axis) if len(parts) > 1 else x


def _conv2d_torchscript(g: Any, input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any,
                        groups: Any, padding_mode: Any, algorithm: Any, device: Any = None,
                        activation: Any = None) -> Any:
    from torch.onnx import symbolic_helper as sh

    stride = sh._get_const(stride, "is", "stride")
    padding = sh._get_const(padding, "is", "padding")
    dilation = sh._get_const(dilation, "is", "dilation")
    groups = sh._get_const(groups, "i", "groups")
    padding_mode = sh._get_const(padding_mode, "s", "padding_mode")
    activation = "none" if activation is None or sh._is_none(activation) else sh._get_const(activation, "s",
                                                                                             "activation")
    top, bottom, left, right = padding
    pads = _onnx_pads(padding)
    if padding_mode != "zeros" and any(padding):
        if padding_mode == "circular":
            input = _ts_circular(g, _ts_circular(g, input, 3, left, right), 2, top, bottom)
        else:
            input = g.op("Pad", input, _ts_const(g, [0, 0, top, left, 0, 0, bottom, right]),
                         mode_s=_PAD_MODES[padding_mode])
        pads = [0, 0, 0, 0]
    inputs = [input, weight] if sh._is_none(bias) else [input, weight, bias]
    y = g.op("Conv", *inputs, strides_i=list(stride), pads_i=pads, dilations_i=list(dilation), group_i=groups)
    if activation == "relu":
        return g.op("Relu", y)
    if activation == "relu6":
        dtype = torch.float64 if input.type().scalarType() == "Double" else torch.float32
        return g.op("Clip", y, g.op("Constant", value_t=torch.tensor(0, dtype=dtype)),
                    g.op("Constant", value_t=torch.tensor(6, dtype=dtype)))
    return y


_registered = False


def register_torchscript_symbolic() -> None:
    """Teach ``torch.onnx.export(..., dynamo=False)`` to write ``ai3::conv2d`` (``import ai3`` does this)."""
    global _registered
    if not _registered:
        import torch.onnx

        # Opset 11 is the first whose Pad and Slice take their pads/bounds as inputs.
        torch.onnx.register_custom_op_symbolic("ai3::conv2d", _conv2d_torchscript, 11)
        _registered = True


# ---- dynamo exporter ------------------------------------------------------------------------

def _dynamo_translation() -> Callable[..., Any]:
    from onnxscript import opset18 as op

    def const(values: Sequence[int]) -> Any:
        return op.Constant(value_ints=list(values))

    def circular(x: Any, axis: int, before: int, after: int) -> Any:
        parts = []
        if before:
            parts.append(op.Slice(x, const([-before]), const([_INT64_MAX]), const([axis])))
        parts.append(x)
        if after:
            parts.append(op.Slice(x, const([0]), const([after]), const([axis])))
        return op.Concat(*parts, axis=axis) if len(parts) > 1 else x

    def conv2d(input: Any, weight: Any, bias: Any = None, stride: Sequence[int] = (1, 1),
               padding: Sequence[int] = (0, 0, 0, 0), dilation: Sequence[int] = (1, 1), groups: int = 1,
               padding_mode: str = "zeros", algorithm: str = "default", device: str = "cpu",
               activation: str = "none") -> Any:
        top, bottom, left, right = padding
        pads = _onnx_pads(padding)
        if padding_mode != "zeros" and any(padding):
            if padding_mode == "circular":
                input = circular(circular(input, 3, left, right), 2, top, bottom)
            else:
                input = op.Pad(input, const([0, 0, top, left, 0, 0, bottom, right]), mode=_PAD_MODES[padding_mode])
            pads = [0, 0, 0, 0]
        y = op.Conv(input, weight, bias, strides=list(stride), pads=pads, dilations=list(dilation), group=groups)
        if activation == "relu":
            return op.Relu(y)
        if activation == "relu6":
            return op.Clip(y, op.CastLike(op.Constant(value_float=0.0), y),
                           op.CastLike(op.Constant(value_float=6.0), y))
        return y

    return conv2d


def onnx_translation_table() -> Dict[Any, Callable[..., Any]]:
    """ai3's operators and their ONNX translations, for ``torch.onnx.export``'s
    ``custom_translation_table`` (the dynamo exporter). Needs ``onnxscript``."""
    try:
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise ImportError("ai3.onnx_translation_table needs onnxscript, as torch.onnx.export(dynamo=True) "
                          "does: pip install onnxscript") from e
    return {torch.ops.ai3.conv2d.default: _dynamo_translation()}


def export_onnx(model: torch.nn.Module, args: Any, f: Optional[Any] = None, *, dynamo: bool = True,
                **kwargs: Any) -> Any:
    """``torch.onnx.export`` for a model with swapped convolutions: the same arguments and
    result, with ai3's translations added (merged into ``custom_translation_table`` when
    ``dynamo``; the TorchScript exporter has them registered already)."""
    if dynamo:
        table = onnx_translation_table()
        table.update(kwargs.pop("custom_translation_table", None) or {})
        kwargs["custom_translation_table"] = table
    else:
        register_torchscript_symbolic()
    return torch.onnx.export(model, args, f, dynamo=dynamo, **kwargs)
