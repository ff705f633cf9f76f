"""ai3's torch.library operators: all of ai3's torch registration lives here (their ONNX
translations are in :mod:`ai3.onnx_export`).

``ai3::conv2d`` is the operator a swapped ``nn.Conv2d`` calls. Its forward runs in
the C++ core; ``register_fake`` gives torch.compile and meta tensors the exact
output shape. Its backward is two more ai3 convolutions with the same algorithm:
grad_input as the convolution of the stride-dilated output gradient with the
flipped, transposed filters, and grad_weight as the correlation of the input with
the output gradient (winograd's grad_weight, a P x Q correlation, runs implicit
precomp gemm); the same convolution, given an extra input row of ones, yields
grad_bias. Padding modes other than zeros are differentiated through torch's F.pad.

The operator has a CPU and a CUDA kernel: CUDA tensors run ai3's CUDA backend on their
own GPU and torch's current stream; CPU tensors run where the ``device`` argument says
(``"cpu"``, or e.g. ``"cuda:0"`` with host memory staged in and out).
"""

from __future__ import annotations

import functools
import weakref
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from . import _core
from ._convert import dtype_name
from .algorithms import check_algorithm
from .devices import cuda_handle, from_key
from .errors import DeviceError, DTypeError, InvalidInputError
from .layers import _PAD_MODES


def _new_layer(
    weight_shape: Tuple[int, ...],
    has_bias: bool,
    stride: Tuple[int, int],
    padding: Tuple[int, int, int, int],
    dilation: Tuple[int, int],
    groups: int,
    padding_mode: str,
    algorithm: str,
) -> _core.Conv2d:
    # A C++ layer caches the resolved algorithm and the kernel per (input shape,
    # dtype, device), so repeated calls skip dispatch.
    return _core.Conv2d.borrowed(
        list(weight_shape), has_bias, stride, padding, dilation, groups, _PAD_MODES[padding_mode], algorithm
    )


# Shared layers, for questions that need no per-weight state (resolve_for, tune keys).
_borrowed_conv = functools.lru_cache(maxsize=1024)(_new_layer)


# Layers that run a particular weight tensor, by id(weight). Kernels keep per-weight
# state (winograd's transformed filters), so two convs with the same configuration
# must not share one kernel: they would evict each other's state on every call.
# Entries go when their weight tensor is garbage collected.
_per_weight: Dict[int, Dict[tuple, _core.Conv2d]] = {}


def _drop_weight(key: int) -> None:
    _per_weight.pop(key, None)


def conv_layer_for(weight_shape: Sequence[int], has_bias: bool, stride: Sequence[int], padding: Sequence[int],
                   dilation: Sequence[int], groups: int, padding_mode: str, algorithm: str,
                   owner: Optional[torch.Tensor] = None) -> _core.Conv2d:
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
        layer = layers[config] = _new_layer(*config)
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


def weight_version(weight: torch.Tensor) -> int:
    """torch's version counter of ``weight`` (0 for inference tensors, which have none).

    Kernels that cache data derived from a weight (winograd's transformed filters) key
    it by (address, version) and also compare a fingerprint of the contents, which
    catches writes that bypass the counter (``.data``, inference tensors).
    """
    return 0 if weight.is_inference() else weight._version


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
        if t is not None and t.device != input.device:
            raise DeviceError(f"ai3::conv2d got the input on {input.device} but the {what} on {t.device}")


ACTIVATIONS = ("none", "relu", "relu6")


def _run_conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm, device,
              activation="none") -> torch.Tensor:
    """Runs the C++ layer on the tensors' memory (host or CUDA) for an ai3 device (its ``core`` form)."""
    _check_conv_args(input, weight, bias, stride, padding, dilation, padding_mode, algorithm)
    if activation not in ACTIVATIONS:
        raise InvalidInputError(f"ai3::conv2d activation must be one of {ACTIVATIONS}, got {activation!r}")
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
    out = torch.empty(out_shape, dtype=input.dtype, device=input.device)
    # The CPU kernels apply the activation in their epilogue, while the output is in
    # registers; the device backends' kernels have no epilogue, so torch applies it there.
    on_cpu = device == "cpu"  # ai3's core form of the CPU device (devices.from_key)
    layer.forward_with(x.data_ptr(), list(x.shape), w.data_ptr(), 0 if b is None else b.data_ptr(),
                       out.data_ptr(), dt, device, weight_version(weight), activation if on_cpu else "none")
    if not on_cpu and activation == "relu":
        out.relu_()
    elif not on_cpu and activation == "relu6":
        out.clamp_(0, 6)
    return out


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
    device: str = "cpu",
    activation: str = "none",
) -> torch.Tensor:
    """4-D convolution by an ai3 algorithm. ``padding`` is (top, bottom, left, right).

    ``device`` is where ai3 runs CPU tensors: an ``ai3.Device.key`` (``"cpu"``, ``"cuda:0"``,
    a SYCL queue's key); a device backend's kernels stage host memory in and out. CUDA tensors always run on
    their own GPU, on torch's current stream, with no host copies.
    ``activation`` ("none", "relu", "relu6") is applied to the output, by the CPU kernels in
    the same pass (what :class:`ai3.modules.Sequential` uses for a conv followed by a ReLU).
    """
    return _run_conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm,
                     from_key(device), activation)


@conv2d.register_kernel("cuda")
def _conv2d_cuda(input, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm, device="cpu",
                 activation="none"):
    index = input.device.index if input.device.index is not None else torch.cuda.current_device()
    dev = ("cuda", index, cuda_handle(index))
    return _run_conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm, dev, activation)


@conv2d.register_fake
def _conv2d_fake(input, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm, device="cpu",
                 activation="none"):
    return input.new_empty(conv2d_out_shape(input.shape, weight.shape, stride, padding, dilation))


def _setup_context(ctx, inputs, output):
    input, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm, device, activation = inputs
    ctx.activation = activation
    # A fused activation's gradient needs where the output was clamped: the output itself.
    if activation == "none":
        ctx.save_for_backward(input, weight)
    else:
        ctx.save_for_backward(input, weight, output)
    ctx.has_bias = bias is not None
    ctx.conf = (list(stride), list(padding), list(dilation), groups, padding_mode, algorithm)
    ctx.ai3_device = device


# What the backward's two convolutions run, per forward algorithm. Both are ordinary
# convolutions (below), so they run ai3's forward kernels; winograd's weight gradient is a
# P x Q correlation, which Winograd's 3x3 transforms cannot compute.
_BACKWARD_WEIGHT_ALGORITHM = {"winograd": "implicit precomp gemm"}


def _grad_input(grad: torch.Tensor, weight: torch.Tensor, padded_hw: Sequence[int], stride: Sequence[int],
                dilation: Sequence[int], groups: int, algorithm: str, device: str = "cpu") -> torch.Tensor:
    """d(loss)/d(padded input): the transposed convolution, run as a convolution of the
    stride-dilated gradient with the flipped, per-group transposed filters."""
    n, k, p, q = grad.shape
    _, cg, r, s = weight.shape
    sh, sw = stride
    dh, dw = dilation
    if sh > 1 or sw > 1:  # put the gradient back on the input's grid
        spread = grad.new_zeros(n, k, (p - 1) * sh + 1, (q - 1) * sw + 1)
        spread[:, :, ::sh, ::sw] = grad
        grad = spread
    kg = k // groups
    w_t = weight.reshape(groups, kg, cg, r, s).transpose(1, 2).reshape(groups * cg, kg, r, s).flip(2, 3)
    ph, pw = dh * (r - 1), dw * (s - 1)
    # rows/columns past the last window never reached the output: their gradient is 0
    extra_h = padded_hw[0] - (grad.shape[2] + ph)
    extra_w = padded_hw[1] - (grad.shape[3] + pw)
    return conv2d(grad, w_t.contiguous(), None, [1, 1], [ph, ph + extra_h, pw, pw + extra_w], [dh, dw], groups,
                  "zeros", algorithm, device)


def _grad_weight_bias(grad: torch.Tensor, x: torch.Tensor, weight_shape: Sequence[int], stride: Sequence[int],
                      dilation: Sequence[int], groups: int, algorithm: str, need_w: bool, need_b: bool,
                      device: str = "cpu"):
    """d(loss)/d(weight) and d(loss)/d(bias) in one ai3 convolution.

    The weight gradient is the correlation of the (padded) input with the output
    gradient, run as a grouped convolution whose batch is the input channels and
    whose channels are (group, image) pairs. An extra batch row of ones makes the same
    convolution produce the bias gradient (the sum of the output gradient) at tap (0, 0).
    """
    n, c, h, w = x.shape
    _, k, p, q = grad.shape
    cg, kg = c // groups, k // groups
    rows = []
    if need_w:
        rows.append(x.reshape(n, groups, cg, h, w).permute(2, 1, 0, 3, 4).reshape(cg, groups * n, h, w))
    if need_b:
        rows.append(x.new_ones(1, groups * n, h, w))
    xs = torch.cat(rows) if len(rows) > 1 else rows[0]
    gs = grad.reshape(n, groups, kg, p, q).permute(1, 2, 0, 3, 4).reshape(groups * kg, n, p, q)
    out = conv2d(xs.contiguous(), gs.contiguous(), None, list(dilation), [0, 0, 0, 0], list(stride), groups,
                 "zeros", _BACKWARD_WEIGHT_ALGORITHM.get(algorithm, algorithm), device)
    g_w = out[:cg, :, : weight_shape[2], : weight_shape[3]].transpose(0, 1).contiguous() if need_w else None
    g_b = out[-1, :, 0, 0].contiguous() if need_b else None
    return g_w, g_b


def _conv2d_backward(ctx, grad):
    input, weight = ctx.saved_tensors[:2]
    stride, padding, dilation, groups, padding_mode, algorithm = ctx.conf
    need_in, need_w, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]
    top, bottom, left, right = padding
    if ctx.activation != "none":  # back through the fused activation first, as torch's ReLU/ReLU6 do
        out = ctx.saved_tensors[2]
        # As torch's CPU kernels do: zero (not grad * 0) where the output was clamped. At a
        # NaN output ReLU's threshold_backward passes the gradient (NaN <= 0 is false) and
        # ReLU6's vectorised hardtanh_backward blocks it (its mask is 0 < x < 6).
        clamped = (out <= 0) if ctx.activation == "relu" else ~((out > 0) & (out < 6))
        grad = grad.masked_fill(clamped, 0)
    grad = grad.contiguous()
    pads = (left, right, top, bottom)
    mode = "constant" if padding_mode == "zeros" else padding_mode
    x = F.pad(input, pads, mode=mode) if any(pads) else input
    g_in = g_w = g_b = None
    if need_in:
        g_in = _grad_input(grad, weight, x.shape[2:], stride, dilation, groups, algorithm, ctx.ai3_device)
        if any(pads):  # back through the padding: a slice for zeros, a scatter-add for the other modes
            with torch.enable_grad():
                xi = input.detach().requires_grad_(True)
                (g_in,) = torch.autograd.grad(F.pad(xi, pads, mode=mode), xi, g_in)
    if need_w or need_b:
        g_w, g_b = _grad_weight_bias(grad, x, weight.shape, stride, dilation, groups, algorithm, need_w, need_b,
                                     ctx.ai3_device)
    return g_in, g_w, g_b, None, None, None, None, None, None, None, None


conv2d.register_autograd(_conv2d_backward, setup_context=_setup_context)
