"""The layers an :class:`ai3.Model` is made of.

Each wraps a C++ layer that owns its parameters (copied once, in the model's
dtype) and resolves its algorithm per input shape on first use. Build them
directly, or from torch modules with ``from_torch``; :func:`ai3.swap_backend`
does the latter for a whole network.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional, Sequence, Tuple, Type, Union

import numpy as np
import torch
from torch import nn

from . import _core
from ._convert import DTYPES, as_numpy_param, conv_padding, dtype_name, empty_like_input, input_array, pair
from .algorithms import check_algorithm
from .errors import DTypeError, InvalidInputError, UnsupportedError

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

    # ---- saving (pickle, copy.deepcopy, torch.save) --------------------------------

    def _hyper(self) -> Dict[str, Any]:
        """The constructor's keyword arguments other than parameters and ``algorithm``."""
        return {}

    def state(self) -> Dict[str, Any]:
        """Everything needed to rebuild this layer, as plain Python values and torch
        tensors (``torch.load(..., weights_only=True)`` reads it back): ``type``, the
        ``algorithm`` asked for, ``dtype``, ``params`` (copies of the owned parameters)
        and ``hyper`` (the other constructor arguments)."""
        params = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in self._core.params()}
        return {"type": type(self).__name__, "algorithm": self.algorithm, "dtype": self._dtype,
                "params": params, "hyper": self._hyper()}

    @classmethod
    def _rebuild(cls, state: Dict[str, Any]) -> Layer:
        kw = dict(state["hyper"])
        kw.update(state["params"])
        if state["dtype"] is not None:
            kw["dtype"] = state["dtype"]
        make: Any = cls  # every concrete layer takes algorithm= (the base class is abstract)
        return make(algorithm=state["algorithm"], **kw)

    @staticmethod
    def from_state(state: Dict[str, Any]) -> Layer:
        """The layer :meth:`state` describes."""
        cls = _LAYER_TYPES.get(str(state.get("type"))) if isinstance(state, dict) else None
        if cls is None:
            found = state.get("type") if isinstance(state, dict) else type(state).__name__
            raise InvalidInputError(f"not an ai3 layer state (unknown type {found!r})")
        return cls._rebuild(state)

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return _layer_from_state, (self.state(),)

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

    def _hyper(self) -> Dict[str, Any]:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation, "groups": self.groups,
                "padding_mode": self.padding_mode}

    @classmethod
    def from_torch(cls, module: nn.Conv2d, algorithm: str = "default", *, dtype: Any = None) -> Conv2D:
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
    def from_torch(cls, module: nn.Linear, algorithm: str = "default", *, dtype: Any = None) -> Linear:
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

    def _hyper(self) -> Dict[str, Any]:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "dilation": self.dilation, "ceil_mode": self.ceil_mode}

    @classmethod
    def from_torch(cls, module: nn.MaxPool2d, algorithm: str = "default", **_: Any) -> MaxPool2D:
        if module.return_indices:
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
        if divisor_override is not None and (not isinstance(divisor_override, int)
                                             or isinstance(divisor_override, bool) or divisor_override == 0):
            # torch divides by any non-zero override, negative ones included
            raise InvalidInputError(f"divisor_override must be a non-zero int or None, got {divisor_override!r}")
        core = _core.Pool2d.avg(k, s, p, bool(ceil_mode), bool(count_include_pad), divisor_override or 0, algorithm)
        super().__init__(core)
        self.kernel_size, self.stride, self.padding = k, s, p
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)
        self.divisor_override = divisor_override

    def _hyper(self) -> Dict[str, Any]:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "ceil_mode": self.ceil_mode, "count_include_pad": self.count_include_pad,
                "divisor_override": self.divisor_override}

    @classmethod
    def from_torch(cls, module: nn.AvgPool2d, algorithm: str = "default", **_: Any) -> AvgPool2D:
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

    def _hyper(self) -> Dict[str, Any]:
        return {"output_size": self.output_size}

    @classmethod
    def from_torch(cls, module: nn.AdaptiveAvgPool2d, algorithm: str = "default", **_: Any) -> AdaptiveAvgPool2D:
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
    def from_torch(cls, module: nn.Module, algorithm: str = "default", **_: Any) -> ReLU:
        return cls(algorithm=algorithm)


class Flatten(Layer):
    """``torch.flatten(x, start_dim, end_dim)``."""

    op = "flatten"

    def __init__(self, start_dim: int = 1, end_dim: int = -1, *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        super().__init__(_core.Flatten(int(start_dim), int(end_dim), algorithm))
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def _hyper(self) -> Dict[str, Any]:
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}

    @classmethod
    def from_torch(cls, module: nn.Flatten, algorithm: str = "default", **_: Any) -> Flatten:
        return cls(module.start_dim, module.end_dim, algorithm=algorithm)

    def _extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


# ---- layers of the graph form of ai3.Model ---------------------------------------------


class _MultiInput(Layer):
    """A layer of several inputs (or none): called as ``layer(a, b, ...)``."""

    def out_shape(self, *input_shapes: Sequence[int]) -> Tuple[int, ...]:  # type: ignore[override]
        """The output shape for the inputs' shapes."""
        return tuple(self._core.out_shape_n([list(s) for s in input_shapes]))

    def __call__(self, *xs: Any) -> Any:  # type: ignore[override]
        """Run this one layer on torch tensors or numpy arrays; returns the kind of the first (torch without inputs)."""
        arrays = [input_array(x) for x in xs]
        dtypes = {a[3] for a in arrays} | ({self._dtype} if self._dtype is not None else set())
        if len(dtypes) > 1:
            raise DTypeError(f"{type(self).__name__} got mixed dtypes {sorted(dtypes)}")
        dtype = dtypes.pop() if dtypes else "float32"
        shapes = [list(a[2]) for a in arrays]
        like = xs[0] if xs else torch.empty(0)
        out, out_ptr = empty_like_input(like, self.out_shape(*shapes), dtype)
        self._core.forward_n([a[1] for a in arrays], shapes, out_ptr, dtype)
        del arrays
        return out


class BatchNorm2D(Layer):
    """Inference ``nn.BatchNorm2d`` (running statistics): ``(x - mean) / sqrt(var + eps) * weight + bias``.

    :func:`ai3.swap_backend` folds a BatchNorm2d into the convolution before it when that
    convolution's output has no other user; this layer runs the others."""

    op = "batchnorm2d"

    def __init__(self, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
                 eps: float = 1e-5, *, algorithm: str = "default", dtype: Any = None) -> None:
        check_algorithm(self.op, algorithm)
        dt = _param_dtype(dtype, running_mean)
        conv = lambda t: None if t is None else as_numpy_param(t, dt)  # noqa: E731
        mean = conv(running_mean)
        core = _core.BatchNorm2d(mean, conv(running_var), conv(weight), conv(bias), float(eps), algorithm, dt)
        super().__init__(core, dt)
        self.num_features = int(mean.shape[0]) if mean is not None else 0  # (the core refuses None)
        self.eps = float(eps)

    def _hyper(self) -> Dict[str, Any]:
        return {"eps": self.eps}

    @classmethod
    def _rebuild(cls, state: Dict[str, Any]) -> BatchNorm2D:
        # The layer keeps only the folded per-channel scale and shift: take those back.
        dt = state["dtype"]
        self = cls.__new__(cls)
        scale, shift = (as_numpy_param(state["params"][k], dt) for k in ("scale", "shift"))
        check_algorithm(cls.op, state["algorithm"])
        Layer.__init__(self, _core.BatchNorm2d.affine(scale, shift, state["algorithm"], dt), dt)
        self.num_features, self.eps = int(scale.shape[0]), float(state["hyper"]["eps"])
        return self

    @classmethod
    def from_torch(cls, module: nn.BatchNorm2d, algorithm: str = "default", *, dtype: Any = None) -> BatchNorm2D:
        if module.running_mean is None or module.running_var is None:
            raise InvalidInputError("ai3 BatchNorm2D needs running statistics (track_running_stats=True)")
        return cls(module.running_mean, module.running_var, module.weight, module.bias, module.eps,
                   algorithm=algorithm, dtype=dtype if dtype is not None else module.running_mean.dtype)

    def _extra_repr(self) -> str:
        return f"num_features={self.num_features}, eps={self.eps}"


class _Pointwise(Layer):
    kind: ClassVar[str] = ""

    def __init__(self, *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        super().__init__(_core.Pointwise(getattr(_core.PointwiseKind, self.kind), algorithm))

    @classmethod
    def from_torch(cls, module: nn.Module, algorithm: str = "default", **_: Any) -> Layer:
        return cls(algorithm=algorithm)


class ReLU6(_Pointwise):
    """``min(max(x, 0), 6)``."""

    op = kind = "relu6"


class Hardswish(_Pointwise):
    """``x * relu6(x + 3) / 6``."""

    op = kind = "hardswish"


class Hardsigmoid(_Pointwise):
    """``relu6(x + 3) / 6``."""

    op = kind = "hardsigmoid"


class SiLU(_Pointwise):
    """``x * sigmoid(x)``."""

    op = kind = "silu"


class Sigmoid(_Pointwise):
    """``1 / (1 + exp(-x))``."""

    op = kind = "sigmoid"


class GELU(Layer):
    """``nn.GELU``: ``approximate="none"`` (erf) or ``"tanh"``."""

    op = "gelu"

    def __init__(self, approximate: str = "none", *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        if approximate not in ("none", "tanh"):
            raise InvalidInputError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        kind = _core.PointwiseKind.gelu_tanh if approximate == "tanh" else _core.PointwiseKind.gelu
        super().__init__(_core.Pointwise(kind, algorithm))
        self.approximate = approximate

    def _hyper(self) -> Dict[str, Any]:
        return {"approximate": self.approximate}

    @classmethod
    def from_torch(cls, module: nn.GELU, algorithm: str = "default", **_: Any) -> GELU:
        return cls(module.approximate, algorithm=algorithm)

    def _extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Add(_MultiInput):
    """``a + b`` with torch's broadcasting."""

    op = "add"

    def __init__(self, *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        super().__init__(_core.Binary(_core.BinaryKind.add, algorithm))


class Mul(_MultiInput):
    """``a * b`` with torch's broadcasting (squeeze-excitation gates, layer scale)."""

    op = "mul"

    def __init__(self, *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        super().__init__(_core.Binary(_core.BinaryKind.mul, algorithm))


class Cat(_MultiInput):
    """``torch.cat(inputs, dim)``."""

    op = "cat"

    def __init__(self, dim: int = 0, *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        super().__init__(_core.Cat(int(dim), algorithm))
        self.dim = int(dim)

    def _hyper(self) -> Dict[str, Any]:
        return {"dim": self.dim}

    def _extra_repr(self) -> str:
        return f"dim={self.dim}"


class Split(Layer):
    """One piece of ``chunk``/``split``: ``x.narrow(dim, start, length)``, made dense."""

    op = "split"

    def __init__(self, dim: int, start: int, length: int, *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        super().__init__(_core.Split(int(dim), int(start), int(length), algorithm))
        self.dim, self.start, self.length = int(dim), int(start), int(length)

    def _hyper(self) -> Dict[str, Any]:
        return {"dim": self.dim, "start": self.start, "length": self.length}

    def _extra_repr(self) -> str:
        return f"dim={self.dim}, start={self.start}, length={self.length}"


class Permute(Layer):
    """``x.permute(dims)`` (or ``x.transpose(dim0, dim1)`` with :meth:`transpose`), made dense."""

    op = "permute"

    def __init__(self, dims: Sequence[int], *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        super().__init__(_core.Permute([int(d) for d in dims], algorithm))
        self.dims: Optional[Tuple[int, ...]] = tuple(int(d) for d in dims)
        self.transposed: Optional[Tuple[int, int]] = None

    @classmethod
    def transpose(cls, dim0: int, dim1: int, *, algorithm: str = "default") -> Permute:
        """``x.transpose(dim0, dim1)`` for inputs of any rank."""
        check_algorithm(cls.op, algorithm)
        self = cls.__new__(cls)
        Layer.__init__(self, _core.Permute.transpose(int(dim0), int(dim1), algorithm))
        self.dims, self.transposed = None, (int(dim0), int(dim1))
        return self

    def _hyper(self) -> Dict[str, Any]:
        return {"dims": self.dims, "transposed": self.transposed}

    @classmethod
    def _rebuild(cls, state: Dict[str, Any]) -> Permute:
        h = state["hyper"]
        if h["transposed"] is not None:
            return cls.transpose(*h["transposed"], algorithm=state["algorithm"])
        return cls(h["dims"], algorithm=state["algorithm"])

    def _extra_repr(self) -> str:
        return f"dims={self.dims}" if self.dims is not None else f"transpose={self.transposed}"


#: A reshape target entry: a size (``-1`` infers it) or ``(input_index, dim)``, the size
#: of that dim of one of the layer's inputs (so ``view(x.size(0), -1)`` follows the batch).
ReshapeEntry = Union[int, Tuple[int, int]]


class Reshape(_MultiInput):
    """``x.view(shape)``/``x.reshape(shape)``. Inputs after the first only lend their shapes."""

    op = "reshape"

    def __init__(self, shape: Sequence[ReshapeEntry], n_inputs: int = 1, *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        entries = []
        for e in shape:
            if isinstance(e, (tuple, list)):
                entries.append((int(e[0]), int(e[1]), 0))
            else:
                entries.append((-1, 0, int(e)))
        super().__init__(_core.Reshape(entries, int(n_inputs), algorithm))
        self.shape = tuple(shape)
        self.n_inputs = int(n_inputs)

    def _hyper(self) -> Dict[str, Any]:
        return {"shape": self.shape, "n_inputs": self.n_inputs}

    def _extra_repr(self) -> str:
        return f"shape={self.shape}"


class Mean(Layer):
    """``x.mean(dims, keepdim)`` over a contiguous block of dims (e.g. the spatial dims)."""

    op = "mean"

    def __init__(self, dims: Sequence[int], keepdim: bool = False, *, algorithm: str = "default") -> None:
        check_algorithm(self.op, algorithm)
        super().__init__(_core.Mean([int(d) for d in dims], bool(keepdim), algorithm))
        self.dims, self.keepdim = tuple(int(d) for d in dims), bool(keepdim)

    def _hyper(self) -> Dict[str, Any]:
        return {"dims": self.dims, "keepdim": self.keepdim}

    def _extra_repr(self) -> str:
        return f"dims={self.dims}, keepdim={self.keepdim}"


class LayerNorm(Layer):
    """``F.layer_norm`` over the trailing ``normalized_shape`` dims (ConvNeXt's channels-last blocks),
    or with ``over_channels=True`` over dim 1 of an ``(N, C, ...)`` input (ConvNeXt's
    LayerNorm2d, i.e. ``permute -> layer_norm -> permute`` without the two copies)."""

    op = "layernorm"

    def __init__(self, normalized_shape: Union[int, Sequence[int]], weight: Any = None, bias: Any = None,
                 eps: float = 1e-5, *, algorithm: str = "default", dtype: Any = None,
                 over_channels: bool = False) -> None:
        check_algorithm(self.op, algorithm)
        dt = _param_dtype(dtype, weight if weight is not None else "float32")
        shape = [int(normalized_shape)] if isinstance(normalized_shape, int) else [int(d) for d in normalized_shape]
        conv = lambda t: None if t is None else as_numpy_param(t, dt)  # noqa: E731
        has_params = weight is not None or bias is not None
        super().__init__(_core.LayerNorm(shape, conv(weight), conv(bias), float(eps), algorithm, dt,
                                         bool(over_channels)),
                         dt if has_params else None)
        self.normalized_shape, self.eps, self.over_channels = tuple(shape), float(eps), bool(over_channels)

    def _hyper(self) -> Dict[str, Any]:
        return {"normalized_shape": self.normalized_shape, "eps": self.eps, "over_channels": self.over_channels}

    @classmethod
    def _rebuild(cls, state: Dict[str, Any]) -> LayerNorm:
        # Without weight and bias the layer has no dtype of its own.
        kw = dict(state["hyper"], **state["params"])
        return cls(algorithm=state["algorithm"], dtype=state["dtype"] or "float32", **kw)

    @classmethod
    def from_torch(cls, module: nn.LayerNorm, algorithm: str = "default", *, dtype: Any = None) -> LayerNorm:
        return cls(module.normalized_shape, module.weight, module.bias, module.eps, algorithm=algorithm, dtype=dtype)

    def _extra_repr(self) -> str:
        extra = ", over_channels=True" if self.over_channels else ""
        return f"normalized_shape={self.normalized_shape}, eps={self.eps}{extra}"


class Constant(_MultiInput):
    """A tensor of the network used as a value (a ``get_attr`` parameter such as a layer scale)."""

    op = "constant"

    def __init__(self, value: Any, *, dtype: Any = None) -> None:
        dt = _param_dtype(dtype, value)
        v = as_numpy_param(value, dt)
        super().__init__(_core.Constant(v, dt), dt)
        self.shape = tuple(v.shape)

    @classmethod
    def _rebuild(cls, state: Dict[str, Any]) -> Constant:
        return cls(state["params"]["value"], dtype=state["dtype"])

    @property
    def algorithm(self) -> str:
        return "direct"

    def _extra_repr(self) -> str:
        return f"shape={self.shape}"


class TorchFunction(_MultiInput):
    """A node that ai3 has no kernel for, run by torch inside an ai3 graph
    (``swap_backend(..., unsupported="torch")``).

    ``fn`` takes the input tensors (CPU tensors sharing the graph's buffers) and returns one
    tensor, whose shape ai3 learns by calling ``fn`` on meta tensors."""

    op = "torch"

    def __init__(self, fn: Any, n_inputs: int, name: str = "torch function") -> None:
        def view(addr: int, shape: Sequence[int], dtype: str) -> torch.Tensor:
            n = 1
            for d in shape:
                n *= int(d)
            if n == 0:
                return torch.empty(tuple(shape), dtype=DTYPES[dtype])
            ctype = np.ctypeslib.as_ctypes_type(np.dtype(dtype))
            buf = (ctype * n).from_address(addr)
            return torch.from_numpy(np.ctypeslib.as_array(buf)).view(tuple(shape))

        def shape_fn(shapes: Sequence[Sequence[int]]) -> Sequence[int]:
            args = [torch.empty(tuple(s), device="meta") for s in shapes]
            try:
                with torch.no_grad():
                    out = fn(*args)
            except Exception:  # an op without a meta kernel: run it on zeros once
                with torch.no_grad():
                    out = fn(*[torch.zeros(tuple(s)) for s in shapes])
            if not isinstance(out, torch.Tensor):
                raise InvalidInputError(f"{name} returned {type(out).__name__}, not one tensor")
            return list(out.shape)

        def run_fn(addrs: Sequence[int], shapes: Sequence[Sequence[int]], out_addr: int, out_shape: Sequence[int],
                   dtype: str) -> None:
            args = [view(a, s, dtype) for a, s in zip(addrs, shapes)]
            with torch.no_grad():
                out = fn(*args)
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(out_shape):
                raise InvalidInputError(f"{name} returned {getattr(out, 'shape', type(out).__name__)}, expected a "
                                        f"tensor of shape {tuple(out_shape)}")
            view(out_addr, out_shape, dtype).copy_(out)

        super().__init__(_core.Callback(name, int(n_inputs), shape_fn, run_fn))
        self.name = name
        self._fn, self._n_inputs = fn, int(n_inputs)

    def _hyper(self) -> Dict[str, Any]:
        # The function itself: saved only if pickle can save it (a module, a torch op),
        # and never by a weights_only load.
        return {"fn": self._fn, "n_inputs": self._n_inputs, "name": self.name}

    @classmethod
    def _rebuild(cls, state: Dict[str, Any]) -> TorchFunction:
        return cls(**state["hyper"])

    @property
    def algorithm(self) -> str:
        return "torch"

    def _extra_repr(self) -> str:
        return f"{self.name}"


_LAYER_TYPES: Dict[str, Type[Layer]] = {}


def _layer_from_state(state: Dict[str, Any]) -> Layer:
    return Layer.from_state(state)


def _register_types(base: Type[Layer]) -> None:
    for sub in base.__subclasses__():
        if not sub.__name__.startswith("_"):
            _LAYER_TYPES[sub.__name__] = sub
        _register_types(sub)


_register_types(Layer)

__all__ = ["Layer", "Conv2D", "Linear", "MaxPool2D", "AvgPool2D", "AdaptiveAvgPool2D", "ReLU", "Flatten",
           "BatchNorm2D", "ReLU6", "Hardswish", "Hardsigmoid", "SiLU", "Sigmoid", "GELU", "Add", "Mul", "Cat",
           "Split", "Permute", "Reshape", "Mean", "LayerNorm", "Constant", "TorchFunction"]
