"""The layers an :class:`ai3.Model` is made of.

Each wraps a C++ layer that owns its parameters (copied once, in the model's
dtype) and resolves its algorithm per input shape on first use. Build them
directly, or from torch modules with ``from_torch``; :func:`ai3.swap_backend`
does the latter for a whole network.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from . import _core
from ._convert import as_numpy_param, conv_padding, dtype_name, empty_like_input, input_array, pair
from .algorithms import check_algorithm
from .errors import DTypeError, InvalidInputError

IntOrPair = Union[int, Tuple[int, int], Sequence[int]]

_PAD_MODES = {
    "zeros": _core.PadMode.zeros,
    "reflect": _core.PadMode.reflect,
    "replicate": _core.PadMode.replicate,
    "circular": _core.PadMode.circular,
}


class Layer:
    """Base of ai3's layers: an operation, its algorithm and its C++ implementation."""

    op: ClassVar[str] = ""

    def __init__(self, core: Any, dtype: Optional[str] = None) -> None:
        self._core = core
        self._dtype = dtype

    @property
    def algorithm(self) -> str:
        """The algorithm the user asked for (may be ``"default"`` or ``"guess"``)."""
        return self._core.algorithm

    @property
    def resolved_algorithm(self) -> Optional[str]:
        """The concrete algorithm the last forward ran, or None before the first."""
        return self._core.resolved_algorithm or None

    @property
    def dtype(self) -> Optional[str]:
        """The dtype of the layer's parameters, or None for a layer without parameters."""
        return self._dtype

    def resolve_for(self, input_shape: Sequence[int], dtype: str = "float32") -> str:
        """The concrete algorithm this layer runs for an input of this shape and dtype."""
        return self._core.resolve_for(list(input_shape), dtype_name(dtype))

    def out_shape(self, input_shape: Sequence[int]) -> Tuple[int, ...]:
        """The output shape for an input shape (raises InvalidInputError if the input does not fit)."""
        return tuple(self._core.out_shape(list(input_shape)))

    def __call__(self, x: Any) -> Any:
        """Run this one layer on a torch tensor or numpy array; returns the same kind."""
        keep, ptr, shape, dtype = input_array(x)
        if self._dtype is not None and dtype != self._dtype:
            raise DTypeError(f"{type(self).__name__} has {self._dtype} parameters but the input is {dtype}")
        out, out_ptr = empty_like_input(x, self.out_shape(shape), dtype)
        self._core.forward(ptr, list(shape), out_ptr, dtype)
        del keep
        return out

    def _extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._extra_repr()
        resolved = self.resolved_algorithm
        algo = repr(self.algorithm)
        if resolved and resolved != self.algorithm:
            algo += f" -> {resolved!r}"
        return f"{type(self).__name__}({extra}{', ' if extra else ''}algorithm={algo})"


def _param_dtype(dtype: Any, weight: Any) -> str:
    if dtype is not None:
        return dtype_name(dtype)
    if isinstance(weight, torch.Tensor):
        return dtype_name(weight.dtype, "weight dtype")
    if hasattr(weight, "dtype"):
        return dtype_name(weight.dtype, "weight dtype")
    return "float32"


class Conv2D(Layer):
    """2-D convolution with ``nn.Conv2d``'s semantics (every padding mode, groups, dilation)."""

    op = "conv2d"

    def __init__(
        self,
        weight: Any,
        bias: Any = None,
        stride: IntOrPair = 1,
        padding: Union[str, IntOrPair] = 0,
        dilation: IntOrPair = 1,
        groups: int = 1,
        padding_mode: str = "zeros",
        *,
        algorithm: str = "default",
        dtype: Any = None,
    ) -> None:
        check_algorithm(self.op, algorithm)
        dt = _param_dtype(dtype, weight)
        w = as_numpy_param(weight, dt)
        if w.ndim != 4:
            raise InvalidInputError(f"Conv2D weight must be 4-D (out, in/groups, kH, kW), got shape {w.shape}")
        if padding_mode not in _PAD_MODES:
            raise InvalidInputError(f"padding_mode must be one of {list(_PAD_MODES)}, got {padding_mode!r}")
        s, d = pair(stride, "stride"), pair(dilation, "dilation")
        pads = conv_padding(padding, (w.shape[2], w.shape[3]), d, s)
        b = None if bias is None else as_numpy_param(bias, dt)
        if not isinstance(groups, int) or isinstance(groups, bool):
            raise InvalidInputError(f"groups must be an int, got {groups!r}")
        core = _core.Conv2d(w, b, s, pads, d, groups, _PAD_MODES[padding_mode], algorithm, dt)
        super().__init__(core, dt)
        self.stride, self.padding, self.dilation, self.groups = s, pads, d, groups
        self.padding_mode = padding_mode
        self.weight_shape = tuple(w.shape)
        self.has_bias = b is not None

    @classmethod
    def from_torch(cls, module: nn.Conv2d, algorithm: str = "default", *, dtype: Any = None) -> "Conv2D":
        """Copy an ``nn.Conv2d``'s parameters and hyper-parameters."""
        return cls(
            module.weight,
            module.bias,
            module.stride,
            module.padding,
            module.dilation,
            module.groups,
            module.padding_mode,
            algorithm=algorithm,
            dtype=dtype,
        )

    def _extra_repr(self) -> str:
        return (
            f"weight={self.weight_shape}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, groups={self.groups}, padding_mode={self.padding_mode!r}"
        )


class Linear(Layer):
    """``y = x W^T + b`` over the last dimension; any leading dimensions."""

    op = "linear"

    def __init__(self, weight: Any, bias: Any = None, *, algorithm: str = "default", dtype: Any = None) -> None:
        check_algorithm(self.op, algorithm)
        dt = _param_dtype(dtype, weight)
        w = as_numpy_param(weight, dt)
        b = None if bias is None else as_numpy_param(bias, dt)
        super().__init__(_core.Linear(w, b, algorithm, dt), dt)
        self.weight_shape = tuple(w.shape)

    @classmethod
    def from_torch(cls, module: nn.Linear, algorithm: str = "default", *, dtype: Any = None) -> "Linear":
        return cls(module.weight, module.bias, algorithm=algorithm, dtype=dtype)

    def _extra_repr(self) -> str:
        return f"in_features={self.weight_shape[1]}, out_features={self.weight_shape[0]}"


class MaxPool2D(Layer):
    """``nn.MaxPool2d`` (padding, dilation, ceil_mode)."""

    op = "maxpool2d"

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: Optional[IntOrPair] = None,
        padding: IntOrPair = 0,
        dilation: IntOrPair = 1,
        ceil_mode: bool = False,
        *,
        algorithm: str = "default",
    ) -> None:
        check_algorithm(self.op, algorithm)
        k = pair(kernel_size, "kernel_size")
        s = k if stride is None or stride == [] or stride == () else pair(stride, "stride")
        p, d = pair(padding, "padding"), pair(dilation, "dilation")
        super().__init__(_core.Pool2d.max(k, s, p, d, bool(ceil_mode), algorithm))
        self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode = k, s, p, d, bool(ceil_mode)

    @classmethod
    def from_torch(cls, module: nn.MaxPool2d, algorithm: str = "default", **_: Any) -> "MaxPool2D":
        if module.return_indices:
            from .errors import UnsupportedError

            raise UnsupportedError("MaxPool2d(return_indices=True) is not supported by ai3")
        return cls(module.kernel_size, module.stride, module.padding, module.dilation, module.ceil_mode,
                   algorithm=algorithm)

    def _extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2D(Layer):
    """``nn.AvgPool2d`` (ceil_mode, count_include_pad, divisor_override)."""

    op = "avgpool2d"

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: Optional[IntOrPair] = None,
        padding: IntOrPair = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: Optional[int] = None,
        *,
        algorithm: str = "default",
    ) -> None:
        check_algorithm(self.op, algorithm)
        k = pair(kernel_size, "kernel_size")
        s = k if stride is None or stride == [] or stride == () else pair(stride, "stride")
        p = pair(padding, "padding")
        if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override <= 0):
            raise InvalidInputError(f"divisor_override must be a positive int or None, got {divisor_override!r}")
        core = _core.Pool2d.avg(k, s, p, bool(ceil_mode), bool(count_include_pad), divisor_override or 0, algorithm)
        super().__init__(core)
        self.kernel_size, self.stride, self.padding = k, s, p
        self.ceil_mode, self.count_include_pad, self.divisor_override = bool(ceil_mode), bool(count_include_pad), divisor_override

    @classmethod
    def from_torch(cls, module: nn.AvgPool2d, algorithm: str = "default", **_: Any) -> "AvgPool2D":
        return cls(module.kernel_size, module.stride, module.padding, module.ceil_mode, module.count_include_pad,
                   module.divisor_override, algorithm=algorithm)

    def _extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}, "
                f"divisor_override={self.divisor_override}")


class AdaptiveAvgPool2D(Layer):
    """``nn.AdaptiveAvgPool2d``; ``None`` in ``output_size`` keeps that input dimension."""

    op = "adaptiveavgpool2d"

    def __init__(self, output_size: Union[int, None, Sequence[Optional[int]]], *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        if output_size is None or isinstance(output_size, int):
            size = (output_size, output_size)
        elif isinstance(output_size, (tuple, list)) and len(output_size) == 2:
            size = tuple(output_size)
        else:
            raise InvalidInputError(f"output_size must be an int, None or a pair, got {output_size!r}")
        for v in size:
            if v is not None and (not isinstance(v, int) or v <= 0):
                raise InvalidInputError(f"output_size entries must be positive ints or None, got {output_size!r}")
        super().__init__(_core.AdaptiveAvgPool2d(size[0] or 0, size[1] or 0, algorithm))
        self.output_size = size

    @classmethod
    def from_torch(cls, module: nn.AdaptiveAvgPool2d, algorithm: str = "default", **_: Any) -> "AdaptiveAvgPool2D":
        return cls(module.output_size, algorithm=algorithm)

    def _extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class ReLU(Layer):
    """``max(x, 0)``; never modifies its caller's input."""

    op = "relu"

    def __init__(self, *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        super().__init__(_core.ReLU(algorithm))

    @classmethod
    def from_torch(cls, module: nn.Module, algorithm: str = "default", **_: Any) -> "ReLU":
        return cls(algorithm=algorithm)


class Flatten(Layer):
    """``torch.flatten(x, start_dim, end_dim)``."""

    op = "flatten"

    def __init__(self, start_dim: int = 1, end_dim: int = -1, *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        super().__init__(_core.Flatten(int(start_dim), int(end_dim), algorithm))
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    @classmethod
    def from_torch(cls, module: nn.Flatten, algorithm: str = "default", **_: Any) -> "Flatten":
        return cls(module.start_dim, module.end_dim, algorithm=algorithm)

    def _extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


__all__ = ["Layer", "Conv2D", "Linear", "MaxPool2D", "AvgPool2D", "AdaptiveAvgPool2D", "ReLU", "Flatten"]
