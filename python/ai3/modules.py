"""The torch modules that swap_conv2d puts in a network: an ``nn.Conv2d`` whose forward runs
an ai3 algorithm, and an ``nn.Sequential`` that runs a swapped conv and its ReLU in one pass.

In their own module so that both swapping (swap.py) and the graph capture (_fx_graph.py)
can import them without importing each other.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.fx import _symbolic_trace as _fx_trace
from torch.nn.modules import module as _torch_module

from . import ops
from ._convert import conv_padding, dtype_name
from .devices import Device
from .errors import DeviceError, DTypeError, InvalidInputError


class Conv2d(nn.Conv2d):
    """An ``nn.Conv2d`` whose forward runs an ai3 algorithm.

    :func:`swap_conv2d` turns ``nn.Conv2d`` modules into this class in place: the
    same object, parameters, hooks and ``state_dict`` keys, so optimisers,
    ``load_state_dict``, ``deepcopy`` and pickling keep working. ``algorithm`` is
    the requested name; :meth:`resolve_for` tells what it runs for a shape.
    """

    algorithm: str
    ai3_device: Device

    def _ai3_padding(self) -> Tuple[int, int, int, int]:
        return conv_padding(self.padding, self.kernel_size, self.dilation, self.stride)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.forward_fused(input, "none")

    def forward_fused(self, input: torch.Tensor, activation: str) -> torch.Tensor:
        """``forward`` followed by ``activation`` ("none", "relu", "relu6"), which the CPU
        kernels apply in the same pass over the output (see :class:`Sequential`)."""
        if not isinstance(input, torch.Tensor):
            raise InvalidInputError(f"ai3 Conv2d expects a torch.Tensor, got {type(input).__name__}")
        if input.dim() not in (3, 4):
            raise InvalidInputError(
                f"ai3 Conv2d expects a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {tuple(input.shape)}"
            )
        if input.dtype not in (torch.float32, torch.float64):
            raise DTypeError(f"ai3 supports float32 and float64 inputs, got {input.dtype}")
        if input.dtype != self.weight.dtype:
            raise DTypeError(
                f"ai3 Conv2d input dtype {input.dtype} does not match its weight dtype {self.weight.dtype}"
            )
        dev = self.ai3_device
        on_gpu = input.device.type == "cuda"
        if (input.device != self.weight.device or input.device.type not in ("cpu", "cuda")
                or (on_gpu and (dev.backend != "cuda" or dev.index != input.device.index))):
            raise DeviceError(
                f"ai3 Conv2d runs on {dev}, but the input is on {input.device} and the weight on "
                f"{self.weight.device}"
            )
        batched = input.dim() == 4
        x = input if batched else input.unsqueeze(0)
        if not torch.compiler.is_compiling():  # for resolved_algorithm; a compiled graph has no side effects
            self._ai3_last_shape = tuple(x.shape)
        if _plain_eager(x, self.weight, self.bias):
            out = ops._run_conv(x, self.weight, self.bias, list(self.stride), list(self._ai3_padding()),
                            list(self.dilation), self.groups, self.padding_mode, self.algorithm, dev.core,
                            activation)
        else:
            out = ops.conv2d(x, self.weight, self.bias, list(self.stride), list(self._ai3_padding()),
                         list(self.dilation), self.groups, self.padding_mode, self.algorithm, dev.key, activation)
        return out if batched else out.squeeze(0)

    def resolve_for(self, input_shape: Sequence[int]) -> str:
        """The concrete algorithm this layer runs for an input of this shape (its own dtype)."""
        shape = list(input_shape)
        if len(shape) == 3:
            shape = [1] + shape
        layer = ops.conv_layer_for(self.weight.shape, self.bias is not None, self.stride, self._ai3_padding(),
                               self.dilation, self.groups, self.padding_mode, self.algorithm)
        return layer.resolve_for(shape, dtype_name(self.weight.dtype), self.ai3_device.core)

    @property
    def resolved_algorithm(self) -> Optional[str]:
        """The concrete algorithm the last (eager) forward ran, or None before one."""
        shape = getattr(self, "_ai3_last_shape", None)
        return None if shape is None else self.resolve_for(shape)

    def extra_repr(self) -> str:
        algo = repr(self.algorithm)
        resolved = self.resolved_algorithm
        if resolved is not None and resolved != self.algorithm:
            algo += f" -> {resolved!r}"
        return f"{super().extra_repr()}, algorithm={algo}, device={self.ai3_device}"


def _plain_eager(*tensors: Optional[torch.Tensor]) -> bool:
    """Whether a swapped conv may call its kernel directly instead of through the
    ``ai3::conv2d`` operator: plain CPU tensors, nothing to differentiate, and nobody
    watching the dispatcher (torch.compile, jit tracing, torch function or dispatch
    modes such as FakeTensorMode, functorch transforms, the profiler). The operator's
    dispatch costs ~14 us a call, as much as a small conv's whole kernel (MobileNetV2
    has 52 of them); everywhere else the operator runs."""
    if (torch.compiler.is_compiling() or torch.jit.is_tracing() or torch._C._is_torch_function_mode_enabled()
            or torch._C._len_torch_dispatch_stack() > 0 or torch.autograd._profiler_enabled()):
        return False
    grad = torch.is_grad_enabled()
    for t in tensors:
        if t is None:
            continue
        if type(t) not in (torch.Tensor, nn.Parameter) or t.device.type != "cpu" or (grad and t.requires_grad):
            return False
        if torch._C._functorch.is_functorch_wrapped_tensor(t):
            return False
    return True


_FUSABLE_ACTIVATIONS = {nn.ReLU: "relu", nn.ReLU6: "relu6"}


def _hooked(m: nn.Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks)


def _global_hooks() -> bool:
    mm = _torch_module
    return bool(mm._global_forward_hooks or mm._global_forward_pre_hooks or mm._global_backward_hooks
                or mm._global_backward_pre_hooks)


# fx's symbolic tracing only (is_fx_tracing also answers True under torch.export); older
# torch has only the latter.
_fx_symbolic_tracing = getattr(_fx_trace, "is_fx_symbolic_tracing", _fx_trace.is_fx_tracing)


class Sequential(nn.Sequential):
    """An ``nn.Sequential`` that runs an ai3 conv and the ``nn.ReLU`` / ``nn.ReLU6`` right
    after it as one pass: the CPU kernels apply the activation while the output is still
    in registers, instead of torch reading and writing the whole output again.

    :func:`swap_conv2d` turns ``nn.Sequential`` containers into this class in place.
    Nothing else changes: the children (the ReLU module included) stay where they were,
    each still runs alone when called alone (or from a slice that separates the pair),
    and a pair is fused only while neither module has hooks (nor are there global
    module hooks), so every hook still sees what it would have seen. Under torch.fx
    tracing the pair stays two calls, for :func:`swap_backend` to read.
    """

    def forward(self, input: Any) -> Any:
        mods = list(self._modules.values())
        if _fx_symbolic_tracing() or _global_hooks():
            return super().forward(input)
        i = 0
        while i < len(mods):
            m = mods[i]
            act = None
            if i + 1 < len(mods) and type(m) is Conv2d and not _hooked(m):
                nxt = mods[i + 1]
                act = _FUSABLE_ACTIVATIONS.get(type(nxt)) if not _hooked(nxt) else None
            if act is not None:
                input = m.forward_fused(input, act)
                i += 2
            else:
                input = m(input)
                i += 1
        return input
