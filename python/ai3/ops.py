"""ai3's torch.library operators: all of ai3's torch registration lives here.

``ai3::conv2d`` is the operator a swapped ``nn.Conv2d`` calls. Its forward runs in
the C++ core; ``register_fake`` gives torch.compile and meta tensors the exact
output shape; its backward currently runs torch's ``convolution_backward`` on the
saved input and weight (ai3's own backward kernels are a later issue).
"""

from __future__ import annotations

import functools
import itertools
import weakref
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from . import _core
from ._convert import dtype_name
from .errors import DeviceError, DTypeError, InvalidInputError
from .algorithms import check_algorithm
from .layers import _PAD_MODES


@functools.lru_cache(maxsize=None)
def _borrowed_conv(
    weight_shape: Tuple[int, ...],
    has_bias: bool,
    stride: Tuple[int, int],
    padding: Tuple[int, int, int, int],
    dilation: Tuple[int, int],
    groups: int,
    padding_mode: str,
    algorithm: str,
) -> "_core.Conv2d":
    # A C++ layer caches the resolved algorithm and the kernel per (input shape,
    # dtype, device), so repeated calls skip dispatch.
    return _core.Conv2d.borrowed(
        list(weight_shape), has_bias, stride, padding, dilation, groups, _PAD_MODES[padding_mode], algorithm
    )


# Layers that run a particular weight tensor, by id(weight). Kernels keep per-weight
# state (winograd's transformed filters), so two convs with the same configuration
# must not share one kernel: they would evict each other's state on every call.
# Entries go when their weight tensor is garbage collected.
_per_weight: Dict[int, Dict[tuple, "_core.Conv2d"]] = {}


def _drop_weight(key: int) -> None:
    _per_weight.pop(key, None)


def conv_layer_for(weight_shape: Sequence[int], has_bias: bool, stride: Sequence[int], padding: Sequence[int],
                   dilation: Sequence[int], groups: int, padding_mode: str, algorithm: str,
                   owner: Optional[torch.Tensor] = None) -> "_core.Conv2d":
    """The C++ layer for a configuration; with ``owner`` (the weight tensor), one of its own."""
    config = (tuple(weight_shape), bool(has_bias), (stride[0], stride[1]),
              (padding[0], padding[1], padding[2], padding[3]), (dilation[0], dilation[1]), int(groups),
              padding_mode, algorithm)
    if owner is None:
        return _borrowed_conv(*config)
    key = id(owner)
    layers = _per_weight.get(key)
    if layers is None:
        layers = _per_weight[key] = {}
        weakref.finalize(owner, _drop_weight, key)
    layer = layers.get(config)
    if layer is None:
        layer = layers[config] = _core.Conv2d.borrowed(
            list(config[0]), config[1], config[2], config[3], config[4], config[5], _PAD_MODES[padding_mode],
            algorithm)
    return layer


def forget_layers() -> None:
    """Drop every cached C++ conv layer (after tuning changed what ``default`` resolves to)."""
    _borrowed_conv.cache_clear()
    for layers in _per_weight.values():
        layers.clear()


def conv2d_out_shape(input_shape: Sequence[int], weight_shape: Sequence[int], stride: Sequence[int],
                     padding: Sequence[int], dilation: Sequence[int]) -> List[int]:
    n, _, h, w = input_shape
    k, _, r, s = weight_shape
    p = (h + padding[0] + padding[1] - dilation[0] * (r - 1) - 1) // stride[0] + 1
    q = (w + padding[2] + padding[3] - dilation[1] * (s - 1) - 1) // stride[1] + 1
    return [n, k, p, q]


_untracked = itertools.count(1)


def weight_version(weight: torch.Tensor) -> int:
    """A number that changes whenever ``weight``'s contents may have changed.

    Kernels cache transformed filters under (address, version). Inference tensors
    have no version counter, so each call gets a fresh number: always correct,
    at the price of re-transforming their filters on every call.
    """
    if weight.is_inference():
        return (1 << 62) + next(_untracked)
    return weight._version


def _check_conv_args(input, weight, bias, stride, padding, dilation, padding_mode, algorithm) -> None:
    check_algorithm("conv2d", algorithm)
    if padding_mode not in _PAD_MODES:
        raise InvalidInputError(f"padding_mode must be one of {list(_PAD_MODES)}, got {padding_mode!r}")
    if input.dim() != 4:
        raise InvalidInputError(f"ai3::conv2d expects a 4-D input, got shape {tuple(input.shape)}")
    if weight.dim() != 4:
        raise InvalidInputError(f"ai3::conv2d expects a 4-D weight, got shape {tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise InvalidInputError(
            f"ai3::conv2d bias must have shape ({weight.shape[0]},) for weight {tuple(weight.shape)}, "
            f"got {tuple(bias.shape)}"
        )
    if len(stride) != 2 or len(dilation) != 2 or len(padding) != 4:
        raise InvalidInputError(
            f"ai3::conv2d takes stride and dilation of length 2 and padding (top, bottom, left, right) of "
            f"length 4, got stride={stride}, padding={padding}, dilation={dilation}"
        )
    for t, what in ((input, "input"), (weight, "weight"), (bias, "bias")):
        if t is not None and t.device.type != "cpu":
            raise DeviceError(f"ai3::conv2d on the CPU got a {what} on {t.device}")


@torch.library.custom_op("ai3::conv2d", mutates_args=(), device_types="cpu")
def conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    stride: List[int],
    padding: List[int],
    dilation: List[int],
    groups: int,
    padding_mode: str,
    algorithm: str,
) -> torch.Tensor:
    """4-D convolution by an ai3 algorithm. ``padding`` is (top, bottom, left, right)."""
    _check_conv_args(input, weight, bias, stride, padding, dilation, padding_mode, algorithm)
    dt = dtype_name(input.dtype, "input dtype")
    if weight.dtype != input.dtype or (bias is not None and bias.dtype != input.dtype):
        raise DTypeError(
            f"conv2d input dtype {input.dtype} does not match weight dtype {weight.dtype}"
            + ("" if bias is None else f" / bias dtype {bias.dtype}")
        )
    layer = conv_layer_for(weight.shape, bias is not None, stride, padding, dilation, groups, padding_mode, algorithm,
                           owner=weight)
    out_shape = layer.out_shape(list(input.shape))
    x = input.contiguous()
    w = weight.contiguous()
    b = None if bias is None else bias.contiguous()
    out = torch.empty(out_shape, dtype=input.dtype)
    layer.forward_with(x.data_ptr(), list(x.shape), w.data_ptr(), 0 if b is None else b.data_ptr(),
                       out.data_ptr(), dt, "cpu", weight_version(weight))
    return out


@conv2d.register_fake
def _conv2d_fake(input, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm):
    return input.new_empty(conv2d_out_shape(input.shape, weight.shape, stride, padding, dilation))


def _setup_context(ctx, inputs, output):
    input, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm = inputs
    ctx.save_for_backward(input, weight)
    ctx.has_bias = bias is not None
    ctx.conf = (list(stride), list(padding), list(dilation), groups, padding_mode)


def _conv2d_backward(ctx, grad):
    input, weight = ctx.saved_tensors
    stride, padding, dilation, groups, padding_mode = ctx.conf
    need_in, need_w, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]
    top, bottom, left, right = padding
    symmetric = padding_mode == "zeros" and top == bottom and left == right
    x = input
    if not symmetric:
        x = F.pad(input, (left, right, top, bottom), mode="constant" if padding_mode == "zeros" else padding_mode)
    conv_pad = [top, left] if symmetric else [0, 0]
    g_in, g_w, g_b = torch.ops.aten.convolution_backward(
        grad.contiguous(), x, weight, [weight.shape[0]] if ctx.has_bias else None, stride, conv_pad, dilation,
        False, [0, 0], groups, [need_in, need_w, need_b],
    )
    if need_in and not symmetric:
        # Back through the explicit padding (a slice for zeros, a gather for the other modes).
        with torch.enable_grad():
            xi = input.detach().requires_grad_(True)
            xp = F.pad(xi, (left, right, top, bottom), mode="constant" if padding_mode == "zeros" else padding_mode)
            (g_in,) = torch.autograd.grad(xp, xi, g_in)
    return (g_in if need_in else None, g_w if need_w else None, g_b if need_b else None,
            None, None, None, None, None, None)


conv2d.register_autograd(_conv2d_backward, setup_context=_setup_context)
