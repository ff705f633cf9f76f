"""Finding each module's input shape for a sample input shape, without computing.

The network runs once under FakeTensorMode (shapes only, no arithmetic) in eval
mode (so nothing like BatchNorm's running statistics changes) with pre-hooks
recording the first input shape of each module of interest, in forward order.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import nn

from .errors import InvalidInputError


def param_dtype(module: nn.Module) -> torch.dtype:
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


@contextlib.contextmanager
def eval_mode(module: nn.Module):
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, t in flags:
            m.training = t


def record_input_shapes(
    module: nn.Module, sample_input_shape: Sequence[int], wanted: Callable[[nn.Module], bool]
) -> Tuple[List[nn.Module], Dict[int, Tuple[int, ...]]]:
    """Modules for which ``wanted`` holds, in the order the forward first calls them,
    and the input shape of that first call, keyed by ``id(module)``."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    try:
        shape = tuple(int(s) for s in sample_input_shape)
    except (TypeError, ValueError):
        raise InvalidInputError(f"sample_input_shape must be a sequence of ints, got {sample_input_shape!r}") from None
    order: List[nn.Module] = []
    shapes: Dict[int, Tuple[int, ...]] = {}

    def hook(m: nn.Module, args):
        if id(m) not in shapes and args and isinstance(args[0], torch.Tensor):
            shapes[id(m)] = tuple(int(s) for s in args[0].shape)
            order.append(m)

    handles = [m.register_forward_pre_hook(hook) for m in module.modules() if wanted(m)]
    try:
        device = next((p.device for p in module.parameters()), torch.device("cpu"))
        with eval_mode(module), torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
            x = torch.empty(shape, dtype=param_dtype(module), device=device)
            try:
                module(x)
            except Exception as e:  # the user's network rejects this input shape
                raise InvalidInputError(
                    f"the model cannot run an input of sample_input_shape {shape}: {type(e).__name__}: {e}"
                ) from e
    finally:
        for h in handles:
            h.remove()
    return order, shapes
