"""Algorithmic selectors: how users say which algorithm each layer runs."""

from __future__ import annotations

import inspect
from typing import Callable, List, Optional, Sequence, Tuple, Union

from torch import nn

from .algorithms import check_algorithm
from .errors import SelectorError

#: The object that performs the algorithmic selection for an associated operation:
#: a ``str`` (one algorithm for every module of the type), a ``Sequence[str]``
#: (indexed by the module's position among modules of that type in forward order),
#: or a ``Callable`` taking the original module and, optionally, its input shape.
AlgorithmicSelector = Union[str, Sequence[str], Callable[..., str]]


def wants_input_shape(fn: Callable[..., str]) -> bool:
    """Whether a selector callable takes the input shape as a second argument."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    positional = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    if positional == 0:
        raise SelectorError(f"selector callable {fn!r} must take the module as its first argument")
    return positional >= 2


def select(
    op: str,
    selector: Optional[AlgorithmicSelector],
    modules: Sequence[nn.Module],
    shapes: Optional[Sequence[Optional[Tuple[int, ...]]]],
) -> List[str]:
    """The algorithm for each of ``modules`` (all of operation ``op``), validated.

    ``shapes`` holds each module's input shape when a sample input shape was given.
    """
    n = len(modules)
    if selector is None:
        return ["default"] * n
    if isinstance(selector, str):
        return [check_algorithm(op, selector)] * n
    if callable(selector):
        takes_shape = wants_input_shape(selector)
        if takes_shape and shapes is None:
            raise SelectorError(
                f"the {op} selector {getattr(selector, '__name__', selector)!r} takes the input shape, "
                "but no sample_input_shape was given to the swapping function"
            )
        out = []
        for i, m in enumerate(modules):
            algo = selector(m, shapes[i]) if takes_shape and shapes is not None else selector(m)
            out.append(check_algorithm(op, algo))
        return out
    if isinstance(selector, Sequence):
        if len(selector) != n:
            raise SelectorError(
                f"the {op} selector lists {len(selector)} algorithms but the model has {n} {op} modules"
            )
        return [check_algorithm(op, a) for a in selector]
    raise SelectorError(
        f"a {op} selector must be a str, a sequence of str or a callable, got {type(selector).__name__}"
    )
