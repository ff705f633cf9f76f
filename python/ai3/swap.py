"""The two swapping functions of the published API."""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from . import _config, _core
from . import layers as L
from ._convert import dtype_name, pair
from ._fx_graph import GraphBuilder
from ._shapes import eval_mode, param_dtype, record_input_shapes
from .algorithms import SUPPORTED_ALGORITHMS
from .devices import resolve_device
from .errors import InvalidInputError, SelectorError, UnsupportedError
from .model import Model
from .modules import Conv2d, Sequential
from .selectors import AlgorithmicSelector, select


def _check_backend(module: Any, fn: str) -> None:
    backend = _config.FROM_BACKEND  # read at call time: users may set ai3.FROM_BACKEND
    if backend not in (None, "torch"):
        raise InvalidInputError(f"ai3.FROM_BACKEND must be None or 'torch', got {backend!r}")
    if not isinstance(module, nn.Module):
        raise UnsupportedError(f"{fn} swaps PyTorch modules (torch.nn.Module), got {type(module).__name__}")


def _module_device(module: nn.Module) -> Optional[torch.device]:
    return next((p.device for p in module.parameters()), None)


def _swappable_conv(m: nn.Module) -> bool:
    return type(m) in (nn.Conv2d, Conv2d)




def _normalise_conv(m: nn.Module, name: str) -> None:
    """Spell a conv's sizes as pairs, as torch's functional conv reads them: nn.Conv2d
    keeps what it was given, and 1-tuples such as ``stride=(2,)`` are valid torch."""
    m.kernel_size = pair(m.kernel_size, f"{name}.kernel_size")
    m.stride = pair(m.stride, f"{name}.stride")
    m.dilation = pair(m.dilation, f"{name}.dilation")
    if not isinstance(m.padding, str):
        m.padding = pair(m.padding, f"{name}.padding")


def _fuse_sequentials(module: nn.Module) -> None:
    for m in module.modules():
        if type(m) is nn.Sequential:
            m.__class__ = Sequential


def swap_conv2d(
    module: nn.Module,
    algos: Optional[AlgorithmicSelector] = None,
    sample_input_shape: Optional[Sequence[int]] = None,
    *,
    device: Any = None,
    fuse: bool = True,
) -> None:
    """Swaps, in-place, conv2d operations out of the existing DNN for an
    implementation of the user specified algorithm.

    After swapping, the same DNN can still be trained and compiled. Every
    ``nn.Conv2d`` (exactly that class; subclasses with their own forward are left
    alone, with a warning) becomes an :class:`ai3.Conv2d`, keeping its
    parameters and ``state_dict`` keys. Swapping again changes only the algorithm.

    Args:
        module: the module containing the conv2d operations to be swapped out in-place
            (may itself be an ``nn.Conv2d``).
        algos: algorithmic selector for the conv2d operations; None means ``"default"``.
            A sequence is indexed by forward order when ``sample_input_shape`` is given,
            else by registration order (``module.modules()``).
        sample_input_shape: the input shape to the DNN, passed (as each conv's own
            input shape, same rank) to a callable selector that takes two arguments.
        device: keyword-only; where the swapped layers run (see ``ai3.devices()``).
        fuse: keyword-only; whether every ``nn.Sequential`` becomes an
            :class:`ai3.modules.Sequential`, which runs a swapped conv and the ``nn.ReLU`` /
            ``nn.ReLU6`` that follows it in one pass (same results, hooks respected).
    """
    _check_backend(module, "swap_conv2d")
    if not isinstance(fuse, bool):
        raise InvalidInputError(f"swap_conv2d's fuse must be True or False, got {fuse!r}")
    dev = resolve_device(device, follow=_module_device(module))
    convs = [m for m in module.modules() if _swappable_conv(m)]
    others = [type(m).__name__ for m in module.modules() if isinstance(m, nn.Conv2d) and not _swappable_conv(m)]
    if others:
        warnings.warn(f"ai3.swap_conv2d left {len(others)} nn.Conv2d subclass modules unchanged: "
                      f"{sorted(set(others))}", stacklevel=2)
    shapes = None
    if sample_input_shape is not None:
        order, by_id = record_input_shapes(module, sample_input_shape, _swappable_conv)
        unreached = [m for m in convs if id(m) not in by_id]
        convs = order + unreached
        shapes = [by_id.get(id(m)) for m in convs]
    chosen = select("conv2d", algos, convs, shapes)
    names = {id(m): n for n, m in module.named_modules()}
    for m, algo in zip(convs, chosen):  # every check before any module changes
        n = names.get(id(m)) or type(m).__name__
        why = _core.conv2d_refusal(algo, pair(m.kernel_size, f"{n}.kernel_size"), pair(m.stride, f"{n}.stride"),
                                   pair(m.dilation, f"{n}.dilation"), m.groups)
        if why:
            raise UnsupportedError(f"swap_conv2d: conv2d {names.get(id(m)) or '(the module)'!s} "
                                   f"({nn.Conv2d.extra_repr(m)}) cannot run {algo!r}: {why}")
    for m, algo in zip(convs, chosen):
        _normalise_conv(m, names.get(id(m)) or type(m).__name__)
        m.__class__ = Conv2d
        m.algorithm = algo
        m.ai3_device = dev
    if fuse:
        _fuse_sequentials(module)


# ---- swap_backend -----------------------------------------------------------------


def _supported_list() -> str:
    return ("modules Conv2d, Linear, BatchNorm2d, LayerNorm, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, ReLU, ReLU6, "
            "Hardswish, Hardsigmoid, SiLU, Sigmoid, GELU, Flatten, Dropout, Identity; functions and methods: "
            "add/mul (+, *, broadcasting), cat, chunk, split, permute, transpose, view, reshape, flatten, "
            "contiguous, mean, relu, relu6, hardswish, hardsigmoid, silu, sigmoid, gelu, layer_norm, linear, "
            "max_pool2d, avg_pool2d, adaptive_avg_pool2d, dropout, stochastic_depth, size arithmetic, get_attr")


class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer, also keeping ai3's own swapped convs as leaves."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, Conv2d) or super().is_leaf_module(m, qualname)


def _tensor_inputs(node: torch.fx.Node) -> List[torch.fx.Node]:
    found: List[torch.fx.Node] = []
    torch.fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(n))
    return found


def swap_backend(
    module: nn.Module,
    algos: Optional[Mapping[str, AlgorithmicSelector]] = None,
    sample_input_shape: Optional[Sequence[int]] = None,
    *,
    dtype: Any = None,
    device: Any = None,
    unsupported: str = "error",
) -> Model:
    """Swaps every module in an existing DNN for an implementation of the user
    specified algorithm, returning a :class:`Model` completely managed by ai3.

    The module is traced with ``torch.fx`` in eval mode and becomes the graph form of
    :class:`Model`: residual (``add``), concatenating (``cat``), squeeze-excitation
    (``mul``), channel-shuffle (``view``/``transpose``/``chunk``) and channels-last
    (``permute``/``LayerNorm``) networks run as one ai3 graph in one C++ call. A
    BatchNorm2d directly after a convolution whose output has no other user is folded
    into that convolution's weights; Dropout, StochasticDepth and Identity are dropped
    (the Model is for inference); sizes (``x.size()``, arithmetic) are evaluated here,
    a view's batch dimension follows each call's input.

    Args:
        module: the module to have its operations replaced (not modified).
        algos: mapping from operation type (a key of ``SUPPORTED_ALGORITHMS``) to an
            algorithmic selector; operations not named use ``"default"``. A sequence
            selector is indexed by position among that operation's nodes in forward
            order; a callable gets the torch module (or, for a function such as ``add``,
            the torch.fx node) and, optionally, its input shape.
        sample_input_shape: the input shape to the DNN (with the batch): passed as each
            operation's input shape to callable selectors that take two arguments, and
            needed by networks that compute with tensor sizes (channel shuffle).
        dtype: keyword-only; the Model's dtype (float32/float64); None means the
            module's parameter dtype.
        device: keyword-only; where the Model runs (see ``ai3.devices()``).
        unsupported: keyword-only; ``"error"`` (default) raises
            :class:`~ai3.errors.UnsupportedError` naming the first node ai3 has no
            layer for (its target and module type); ``"torch"`` runs such nodes through
            torch inside the ai3 graph (on CPU copies of their inputs when the device
            has its own memory).
    """
    _check_backend(module, "swap_backend")
    if unsupported not in ("error", "torch"):
        raise InvalidInputError(f"unsupported must be 'error' or 'torch', got {unsupported!r}")
    if algos is not None and not isinstance(algos, Mapping):
        raise SelectorError(
            f"swap_backend takes a mapping from operation to selector, e.g. {{'conv2d': 'direct'}}, "
            f"got {type(algos).__name__} {algos!r}"
        )
    algos = dict(algos or {})
    for op in algos:
        if op not in SUPPORTED_ALGORITHMS:
            raise SelectorError(f"unknown operation {op!r} in algos; operations: {', '.join(SUPPORTED_ALGORITHMS)}")
    dt = dtype_name(dtype) if dtype is not None else dtype_name(param_dtype(module), "module parameter dtype")
    dev = resolve_device(device, follow=_module_device(module))

    try:
        with eval_mode(module):
            gm = torch.fx.GraphModule(module, _Tracer().trace(module))
    except Exception as e:
        raise UnsupportedError(
            f"swap_backend could not trace {type(module).__name__} with torch.fx: {type(e).__name__}: {e}"
        ) from e

    if sample_input_shape is not None:
        _node_input_shapes(gm, sample_input_shape)  # fills node.meta["tensor_meta"]

    builder = GraphBuilder(gm, dt, unsupported, _supported_list())
    builder.run()
    specs, inputs, output = builder.pruned()

    chosen: Dict[int, str] = {}
    for op in SUPPORTED_ALGORITHMS:
        idx = [i for i, s in enumerate(specs) if s.op == op]
        if not idx:
            continue
        op_shapes = None if sample_input_shape is None else [specs[i].in_shape for i in idx]
        for i, algo in zip(idx, select(op, algos.get(op), [specs[i].selector_arg for i in idx], op_shapes)):
            chosen[i] = algo
    built: List[L.Layer] = [s.build(chosen.get(i, "default")) for i, s in enumerate(specs)]
    return Model(built, inputs=inputs, output=output, device=dev)


def _node_input_shapes(gm: torch.fx.GraphModule, sample_input_shape: Sequence[int]) -> Dict[str, Tuple[int, ...]]:
    """Input shape of every computing node, by node name (fake tensors: no arithmetic)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.passes.shape_prop import ShapeProp

    try:
        shape = tuple(int(s) for s in sample_input_shape)
    except (TypeError, ValueError):
        raise InvalidInputError(f"sample_input_shape must be a sequence of ints, got {sample_input_shape!r}") from None
    dtype = param_dtype(gm)
    try:
        # Meta tensors first: shapes without arithmetic and without FakeTensorMode, whose
        # machinery stays resident after use (7 MiB of ResNet-50's conversion, measured
        # with benchmarks/models.py, enough to put ai3's peak memory over torch's).
        meta = {name: torch.empty_like(t, device="meta")
                for name, t in [*gm.named_parameters(), *gm.named_buffers()]}
        with eval_mode(gm), torch.no_grad(), torch.nn.utils.stateless._reparametrize_module(gm, meta):
            ShapeProp(gm).propagate(torch.empty(shape, dtype=dtype, device="meta"))
    except Exception:
        # Models that mix in plain tensor attributes or ops without meta kernels: fake
        # tensors wrap those too (and report the model's own error if it cannot run).
        mode = FakeTensorMode(allow_non_fake_inputs=True)
        x = mode.from_tensor(torch.empty(shape, dtype=dtype, device=_module_device(gm) or "cpu"))
        try:
            with eval_mode(gm), torch.no_grad():
                ShapeProp(gm, fake_mode=mode).propagate(x)
        except Exception as e:
            raise InvalidInputError(
                f"the model cannot run an input of sample_input_shape {shape}: {type(e).__name__}: {e}"
            ) from e
    out: Dict[str, Tuple[int, ...]] = {}
    for node in gm.graph.nodes:
        ins = _tensor_inputs(node)
        if ins and hasattr(ins[0].meta.get("tensor_meta"), "shape"):
            out[node.name] = tuple(int(s) for s in ins[0].meta["tensor_meta"].shape)
    return out
