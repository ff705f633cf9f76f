"""Turning a torch.fx graph into the graph form of :class:`ai3.Model`.

The traced graph is interpreted once at swap time. Tensor-valued nodes become ai3
layers (value ids: 0 = the input, k + 1 = layer k); everything else is evaluated
here: sizes (``x.size()``, ``getitem``, arithmetic), parameters read with
``get_attr``, tuples, inference no-ops. A size that is exactly one dimension of a
tensor stays symbolic when it feeds a ``view``/``reshape``, so the Model follows
the batch size of each call rather than the sample's.
"""

from __future__ import annotations

import copy
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from . import layers as L
from ._convert import DTYPES
from .errors import InvalidInputError, UnsupportedError
from .modules import Conv2d as Ai3Conv2d


@dataclass
class Value:
    """A tensor computed by the ai3 graph."""

    id: int


@dataclass
class Param:
    """A tensor of the network (``get_attr``), not yet a graph value."""

    tensor: torch.Tensor


@dataclass
class Size:
    """An int known at swap time (``value``; None without a sample shape), and the
    tensor dimension it is, if it is exactly one (``src = (value id, dim)``)."""

    value: Optional[int]
    src: Optional[Tuple[int, int]] = None


@dataclass
class Pieces:
    """The result of chunk/split before indexing: (start, length) pieces along ``dim``."""

    value: Value
    dim: int
    pieces: List[Tuple[int, int]]


@dataclass
class Spec:
    """One ai3 layer to build once algorithms are selected."""

    op: Optional[str]  # a key of SUPPORTED_ALGORITHMS, or None (no algorithm to select)
    selector_arg: Any  # what a callable selector receives (the torch module, or the fx node)
    build: Callable[[str], L.Layer]
    inputs: List[int]
    node: str
    in_shape: Optional[Tuple[int, ...]] = None
    conv: Optional[nn.Conv2d] = None
    bn: Optional[nn.BatchNorm2d] = None
    extra: Dict[str, Any] = field(default_factory=dict)


_NOOP_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
                 nn.Identity)
_NOOP_FUNCTIONS = (F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout, F.feature_alpha_dropout, torch.dropout)
_POINTWISE_MODULES = {nn.ReLU6: L.ReLU6, nn.Hardswish: L.Hardswish, nn.Hardsigmoid: L.Hardsigmoid, nn.SiLU: L.SiLU,
                      nn.Sigmoid: L.Sigmoid}
_POINTWISE_FUNCTIONS = {F.relu6: L.ReLU6, F.hardswish: L.Hardswish, F.hardsigmoid: L.Hardsigmoid, F.silu: L.SiLU,
                        torch.sigmoid: L.Sigmoid, F.sigmoid: L.Sigmoid, torch.nn.functional.sigmoid: L.Sigmoid}
_POINTWISE_METHODS = {"sigmoid": L.Sigmoid, "sigmoid_": L.Sigmoid}
_SIZE_OPS: Dict[Any, Callable[..., Any]] = {
    operator.add: operator.add, operator.sub: operator.sub, operator.mul: operator.mul,
    operator.floordiv: operator.floordiv, operator.truediv: operator.truediv, operator.mod: operator.mod,
    operator.neg: operator.neg, operator.iadd: operator.add, operator.imul: operator.mul,
    operator.isub: operator.sub, operator.ifloordiv: operator.floordiv, math.floor: math.floor,
    math.ceil: math.ceil}
_ADD = (operator.add, operator.iadd, torch.add)
_MUL = (operator.mul, operator.imul, torch.mul)


def _arg(node_args: tuple, kwargs: dict, i: int, name: str, default: Any) -> Any:
    if len(node_args) > i:
        return node_args[i]
    return kwargs.get(name, default)


def _where(node: torch.fx.Node, gm: torch.fx.GraphModule) -> str:
    if node.op == "call_module":
        sub = gm.get_submodule(node.target)
        return f"module '{node.target}' of type {type(sub).__module__}.{type(sub).__name__}"
    target = getattr(node.target, "__name__", node.target)
    return f"node '{node.name}' ({node.op} {target})"


class GraphBuilder:
    """Interprets a traced GraphModule into ai3 layer specs (see the module docstring)."""

    def __init__(self, gm: torch.fx.GraphModule, dtype: str, unsupported: str, supported_text: str) -> None:
        self.gm = gm
        self.dtype = dtype
        self.unsupported = unsupported
        self.supported_text = supported_text
        self.specs: List[Spec] = []
        self.env: Dict[torch.fx.Node, Any] = {}
        self.shapes: Dict[int, Optional[Tuple[int, ...]]] = {}
        self.producer: Dict[int, int] = {}  # value id -> spec index
        self.output: Optional[int] = None
        # Nodes already computed by an earlier layer (the closing permute of a LayerNorm2d).
        self.done: Dict[torch.fx.Node, Value] = {}

    # ---- helpers ---------------------------------------------------------------------------

    @staticmethod
    def meta_shape(node: Any) -> Optional[Tuple[int, ...]]:
        if isinstance(node, torch.fx.Node) and "tensor_meta" in node.meta:
            tm = node.meta["tensor_meta"]
            if hasattr(tm, "shape"):
                return tuple(int(s) for s in tm.shape)
        return None

    def add(self, spec: Spec, node: torch.fx.Node) -> Value:
        self.specs.append(spec)
        v = Value(len(self.specs))
        self.producer[v.id] = len(self.specs) - 1
        self.shapes[v.id] = self.meta_shape(node)
        return v

    def ev(self, a: Any) -> Any:
        """An fx argument with nodes replaced by their interpreted values."""
        return torch.fx.node.map_aggregate(a, lambda x: self.env[x] if isinstance(x, torch.fx.Node) else x)

    def shape_of(self, v: Value, node: torch.fx.Node) -> Tuple[int, ...]:
        s = self.shapes.get(v.id)
        if s is None:
            raise InvalidInputError(f"swap_backend needs sample_input_shape to interpret {_where(node, self.gm)} "
                                    "(it reads tensor sizes)")
        return s

    def concrete(self, x: Any, node: torch.fx.Node) -> Any:
        """Sizes as plain ints (for hyper-parameters fixed at swap time)."""
        def one(y: Any) -> Any:
            if isinstance(y, Size):
                if y.value is None:
                    raise InvalidInputError(f"swap_backend needs sample_input_shape to interpret "
                                            f"{_where(node, self.gm)} (it computes with tensor sizes)")
                return y.value
            return y
        return torch.fx.node.map_aggregate(x, one)

    def as_value(self, x: Any, node: torch.fx.Node) -> Value:
        """A tensor operand as a graph value (parameters and numbers become constants)."""
        if isinstance(x, Value):
            return x
        if isinstance(x, Param):
            t = x.tensor.detach()
        elif isinstance(x, (int, float, Size)) and not isinstance(x, bool):
            t = torch.tensor(float(self.concrete(x, node)), dtype=torch.float64)
        else:
            raise UnsupportedError(f"swap_backend cannot use {type(x).__name__} as a tensor in {_where(node, self.gm)}")
        dt = self.dtype
        spec = Spec(None, node, lambda _a, t=t: L.Constant(t, dtype=dt), [], node.name)  # type: ignore[misc]
        v = Value(len(self.specs) + 1)
        self.specs.append(spec)
        self.shapes[v.id] = tuple(t.shape)
        return v

    def unary(self, op: str, sel: Any, make: Callable[[str], L.Layer], x: Any, node: torch.fx.Node) -> Value:
        v = self.as_value(x, node)
        return self.add(Spec(op, sel, make, [v.id], node.name, self.shapes.get(v.id)), node)

    # ---- the interpretation ----------------------------------------------------------------

    def run(self) -> None:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if self.env:
                    raise UnsupportedError("swap_backend supports models with one input; the traced forward takes "
                                           "several")
                self.env[node] = Value(0)
                self.shapes[0] = self.meta_shape(node)
                continue
            if node.op == "output":
                out = self.ev(node.args[0])
                if not isinstance(out, Value):
                    raise UnsupportedError(f"swap_backend supports models returning one tensor; this one returns "
                                           f"{type(out).__name__}")
                self.output = out.id
                continue
            if node.op == "get_attr":
                obj = self.gm
                for part in node.target.split("."):
                    obj = getattr(obj, part)
                self.env[node] = Param(obj) if isinstance(obj, torch.Tensor) else obj
                continue
            try:
                result = self.interpret(node)
            except (UnsupportedError, InvalidInputError):
                raise
            except Exception as e:  # a malformed call: say where
                raise UnsupportedError(f"swap_backend cannot interpret {_where(node, self.gm)}: "
                                       f"{type(e).__name__}: {e}") from e
            if result is NotImplemented:
                result = self.fallback(node)
            self.env[node] = result

    def no_indices(self, node: torch.fx.Node) -> Any:
        """A max pool asked for its indices: torch's int64 indices are not an ai3 value
        (ai3 values are float32/float64), and a graph node has one output, so not even
        unsupported='torch' can run it: say so rather than list MaxPool2d as supported."""
        raise UnsupportedError(
            f"swap_backend cannot run {_where(node, self.gm)} with return_indices=True: ai3's max pool returns "
            "no indices (they are int64; ai3 values are float32/float64, one per node). Use return_indices=False, "
            "or ai3.swap_conv2d, which leaves pooling to torch")

    def fallback(self, node: torch.fx.Node) -> Value:
        where = _where(node, self.gm)
        if self.unsupported != "torch":
            raise UnsupportedError(f"swap_backend does not support {where}; supported: {self.supported_text}. "
                                   "Pass unsupported='torch' to run such nodes through torch inside the ai3 graph")
        args, kwargs = self.ev(node.args), self.ev(node.kwargs)
        tensors: List[Value] = []

        def collect(x: Any) -> Any:
            if isinstance(x, Value):
                tensors.append(x)
                return _Slot(len(tensors) - 1)
            if isinstance(x, Param):  # on the CPU: the node runs on host copies whatever the device
                return x.tensor.detach().to("cpu", DTYPES[self.dtype])
            if isinstance(x, Size):
                return self.concrete(x, node)
            if isinstance(x, Pieces):
                raise UnsupportedError(f"swap_backend cannot pass a chunk/split result to torch in {where}")
            return x

        args, kwargs = torch.fx.node.map_aggregate((args, kwargs), collect)
        if node.op == "call_module":
            # A CUDA network's module too: CallbackLayer hands torch host copies of device data.
            target: Any = copy.deepcopy(self.gm.get_submodule(node.target)).to("cpu", DTYPES[self.dtype]).eval()
        elif node.op == "call_method":
            target = _MethodCall(str(node.target))
        else:
            target = node.target
        fn = _TorchCall(target, args, kwargs)

        if self.shapes.get(0) is not None and not hasattr(node.meta.get("tensor_meta"), "shape"):
            raise UnsupportedError(f"swap_backend can run {where} through torch only if it returns one tensor")
        target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", node.target)
        name = f"{node.name} ({target})"
        ids = [t.id for t in tensors]
        n = len(ids)
        return self.add(Spec(None, node, lambda _a: L.TorchFunction(fn, n, name), ids, node.name,
                             self.shapes.get(ids[0]) if ids else None), node)

    def interpret(self, node: torch.fx.Node) -> Any:
        if node in self.done:
            return self.done[node]
        a, k = self.ev(node.args), self.ev(node.kwargs)
        if node.op == "call_module":
            return self.module(node, self.gm.get_submodule(node.target), a, k)
        if node.op == "call_method":
            return self.method(node, node.target, a, k)
        return self.function(node, node.target, a, k)

    # ---- modules -----------------------------------------------------------------------------

    def module(self, node: torch.fx.Node, m: nn.Module, a: tuple, k: dict) -> Any:
        t = type(m)
        if isinstance(m, _NOOP_MODULES):
            return a[0]
        if len(a) != 1 or k or not isinstance(a[0], Value):
            return NotImplemented
        x = a[0]
        dt = self.dtype
        if t in (nn.Conv2d, Ai3Conv2d):
            spec = Spec("conv2d", m, _unbuilt, [x.id], node.name, self.shapes.get(x.id), conv=m)
            spec.build = lambda algo, s=spec: _conv_layer(s, algo, dt)  # type: ignore[misc]
            return self.add(spec, node)
        if t is nn.BatchNorm2d:
            if m.running_mean is None or m.running_var is None:
                return NotImplemented
            src = node.args[0]
            p = self.producer.get(x.id)
            if (p is not None and self.specs[p].op == "conv2d" and self.specs[p].bn is None
                    and isinstance(src, torch.fx.Node) and len(src.users) == 1):
                self.specs[p].bn = m  # folded: the conv now computes bn(conv(x))
                return x
            return self.unary("batchnorm2d", m, lambda algo: L.BatchNorm2D.from_torch(m, algo, dtype=dt), x, node)
        if t is nn.Linear:
            return self.unary("linear", m, lambda algo: L.Linear.from_torch(m, algo, dtype=dt), x, node)
        if t is nn.MaxPool2d:
            if m.return_indices:
                return self.no_indices(node)
            return self.unary("maxpool2d", m, lambda algo: L.MaxPool2D.from_torch(m, algo), x, node)
        if t is nn.AvgPool2d:
            return self.unary("avgpool2d", m, lambda algo: L.AvgPool2D.from_torch(m, algo), x, node)
        if t is nn.AdaptiveAvgPool2d:
            return self.unary("adaptiveavgpool2d", m, lambda algo: L.AdaptiveAvgPool2D.from_torch(m, algo), x, node)
        if t is nn.ReLU:
            return self.unary("relu", m, lambda algo: L.ReLU(algorithm=algo), x, node)
        if t in _POINTWISE_MODULES:
            cls = _POINTWISE_MODULES[t]
            return self.unary(cls.op, m, lambda algo: cls(algorithm=algo), x, node)
        if t is nn.GELU:
            return self.unary("gelu", m, lambda algo: L.GELU(m.approximate, algorithm=algo), x, node)
        if t is nn.Flatten:
            return self.unary("flatten", m, lambda algo: L.Flatten.from_torch(m, algo), x, node)
        if t is nn.LayerNorm:
            wt = None if m.weight is None else m.weight.detach()
            bt = None if m.bias is None else m.bias.detach()
            return self.layernorm(node, m, x, m.normalized_shape, wt, bt, m.eps)
        return NotImplemented

    # ---- functions and methods -------------------------------------------------------------

    def function(self, node: torch.fx.Node, f: Any, a: tuple, k: dict) -> Any:
        dt = self.dtype
        if f in _NOOP_FUNCTIONS or _is_stochastic_depth(f):
            if f is torch.dropout:
                training = _arg(a, k, 2, "train", True)
            elif _is_stochastic_depth(f):
                training = _arg(a, k, 3, "training", True)
            else:  # torch's defaults: dropout/dropoutNd train unless told; the alpha variants do not
                training = _arg(a, k, 2, "training", f not in (F.alpha_dropout, F.feature_alpha_dropout))
            if training:
                return NotImplemented  # a dropout that is active at inference: not a no-op
            return a[0]
        if f is getattr:
            obj, attr = a
            if isinstance(obj, Value) and attr == "shape":
                return self.sizes(obj, node)
            if isinstance(obj, Param):
                return getattr(obj.tensor, attr)
            return NotImplemented
        if f is operator.getitem:
            obj, idx = a
            if isinstance(obj, Pieces):
                start, length = obj.pieces[idx]
                d = obj.dim
                return self.add(Spec("split", node, lambda algo: L.Split(d, start, length, algorithm=algo),
                                     [obj.value.id], node.name, self.shapes.get(obj.value.id)), node)
            if isinstance(obj, (tuple, list)):
                return obj[idx]
            return NotImplemented
        if f in _SIZE_OPS and not any(isinstance(x, (Value, Param)) for x in a):
            vals = [self.concrete(x, node) for x in a]
            return Size(_SIZE_OPS[f](*vals))
        if f in _ADD or f in _MUL:
            if len(a) != 2 or (f is torch.add and _arg(a, k, 2, "alpha", 1) != 1):
                return NotImplemented
            return self.binary("add" if f in _ADD else "mul", a[0], a[1], node)
        if f in (torch.cat, torch.concat, torch.concatenate):
            xs = _arg(a, k, 0, "tensors", None)
            dim = self.concrete(_arg(a, k, 1, "dim", 0), node)
            if not isinstance(xs, (list, tuple)) or not xs:
                return NotImplemented
            ids = [self.as_value(x, node).id for x in xs]
            return self.add(Spec("cat", node, lambda algo: L.Cat(dim, algorithm=algo), ids, node.name,
                                 self.shapes.get(ids[0])), node)
        if f in (torch.chunk, torch.split):
            return self.pieces(node, "chunk" if f is torch.chunk else "split", a[0], a[1:], k)
        if f is torch.flatten:
            x = a[0]
            s, e = self.concrete(_arg(a, k, 1, "start_dim", 0), node), self.concrete(_arg(a, k, 2, "end_dim", -1), node)
            return self.unary("flatten", nn.Flatten(s, e), lambda algo: L.Flatten(s, e, algorithm=algo), x, node)
        if f in (torch.relu, torch.relu_, F.relu, F.relu_):
            return self.unary("relu", nn.ReLU(), lambda algo: L.ReLU(algorithm=algo), a[0], node)
        if f in _POINTWISE_FUNCTIONS:
            cls = _POINTWISE_FUNCTIONS[f]
            return self.unary(cls.op, node, lambda algo: cls(algorithm=algo), a[0], node)
        if f is F.gelu:
            approx = _arg(a, k, 1, "approximate", "none")
            return self.unary("gelu", nn.GELU(approx), lambda algo: L.GELU(approx, algorithm=algo), a[0], node)
        if f is F.layer_norm:
            x = a[0]
            shape = self.concrete(_arg(a, k, 1, "normalized_shape", None), node)
            w, b = _arg(a, k, 2, "weight", None), _arg(a, k, 3, "bias", None)
            eps = _arg(a, k, 4, "eps", 1e-5)
            if not all(p is None or isinstance(p, Param) for p in (w, b)):
                return NotImplemented
            wt, bt = (None if p is None else p.tensor for p in (w, b))
            return self.layernorm(node, node, x, shape, wt, bt, eps)
        if f is F.linear:
            w, b = _arg(a, k, 1, "weight", None), _arg(a, k, 2, "bias", None)
            if not isinstance(w, Param) or not (b is None or isinstance(b, Param)):
                return NotImplemented
            bt = None if b is None else b.tensor
            return self.unary("linear", node, lambda algo: L.Linear(w.tensor, bt, algorithm=algo, dtype=dt), a[0], node)
        if f in (torch.permute,):
            return self.permute(node, a[0], self.concrete(_arg(a, k, 1, "dims", None), node))
        if f in (torch.transpose, torch.swapaxes, torch.swapdims):
            d0, d1 = self.concrete(a[1], node), self.concrete(a[2], node)
            return self.unary("permute", node, lambda algo: L.Permute.transpose(d0, d1, algorithm=algo), a[0], node)
        if f is torch.reshape:
            return self.reshape(node, a[0], _arg(a, k, 1, "shape", None))
        if f is torch.mean:
            return self.mean(node, a[0], _arg(a, k, 1, "dim", None), _arg(a, k, 2, "keepdim", False), k)
        if f in (F.max_pool2d, torch.max_pool2d):
            if _arg(a, k, 6, "return_indices", False):
                return self.no_indices(node)
            c = self.concrete
            mod = nn.MaxPool2d(c(_arg(a, k, 1, "kernel_size", None), node), c(_arg(a, k, 2, "stride", None), node),
                               c(_arg(a, k, 3, "padding", 0), node), c(_arg(a, k, 4, "dilation", 1), node),
                               ceil_mode=_arg(a, k, 5, "ceil_mode", False))
            return self.unary("maxpool2d", mod, lambda algo: L.MaxPool2D.from_torch(mod, algo), a[0], node)
        if f in (F.avg_pool2d, torch._C._nn.avg_pool2d):
            c = self.concrete
            mod = nn.AvgPool2d(c(_arg(a, k, 1, "kernel_size", None), node), c(_arg(a, k, 2, "stride", None), node),
                               c(_arg(a, k, 3, "padding", 0), node), _arg(a, k, 4, "ceil_mode", False),
                               _arg(a, k, 5, "count_include_pad", True), _arg(a, k, 6, "divisor_override", None))
            return self.unary("avgpool2d", mod, lambda algo: L.AvgPool2D.from_torch(mod, algo), a[0], node)
        if f in (F.adaptive_avg_pool2d, torch._C._nn.adaptive_avg_pool2d):
            mod = nn.AdaptiveAvgPool2d(self.concrete(_arg(a, k, 1, "output_size", None), node))
            return self.unary("adaptiveavgpool2d", mod, lambda algo: L.AdaptiveAvgPool2D.from_torch(mod, algo), a[0],
                              node)
        return NotImplemented

    def method(self, node: torch.fx.Node, name: str, a: tuple, k: dict) -> Any:
        if not a or not isinstance(a[0], Value):
            if name in ("size", "dim") and isinstance(a[0] if a else None, Param):
                return getattr(a[0].tensor, name)(*a[1:])
            return NotImplemented
        x = a[0]
        if name == "size":
            sizes = self.sizes(x, node)
            d = _arg(a, k, 1, "dim", None)
            return sizes if d is None else sizes[self.concrete(d, node)]
        if name == "dim":
            return len(self.shape_of(x, node))
        if name in ("contiguous", "clone", "detach"):
            return x
        if name in ("view", "reshape"):
            shape = a[1:] if len(a) != 2 else a[1]
            if isinstance(shape, (Size, int)):
                shape = (shape,)
            return self.reshape(node, x, shape)
        if name == "flatten":
            s, e = self.concrete(_arg(a, k, 1, "start_dim", 0), node), self.concrete(_arg(a, k, 2, "end_dim", -1), node)
            return self.unary("flatten", nn.Flatten(s, e), lambda algo: L.Flatten(s, e, algorithm=algo), x, node)
        if name == "permute":
            dims = a[1:] if len(a) != 2 or not isinstance(a[1], (tuple, list)) else a[1]
            return self.permute(node, x, self.concrete(tuple(dims), node))
        if name in ("transpose", "swapaxes", "swapdims"):
            d0, d1 = self.concrete(a[1], node), self.concrete(a[2], node)
            return self.unary("permute", node, lambda algo: L.Permute.transpose(d0, d1, algorithm=algo), x, node)
        if name in ("relu", "relu_"):
            return self.unary("relu", nn.ReLU(), lambda algo: L.ReLU(algorithm=algo), x, node)
        if name in _POINTWISE_METHODS:
            cls = _POINTWISE_METHODS[name]
            return self.unary(cls.op, node, lambda algo: cls(algorithm=algo), x, node)
        if name in ("add", "add_", "__add__", "__iadd__", "mul", "mul_", "__mul__", "__imul__"):
            if len(a) != 2 or k.get("alpha", 1) != 1:
                return NotImplemented
            return self.binary("add" if "add" in name else "mul", x, a[1], node)
        if name == "mean":
            return self.mean(node, x, _arg(a, k, 1, "dim", None), _arg(a, k, 2, "keepdim", False), k)
        if name in ("chunk", "split"):
            return self.pieces(node, name, x, a[1:], k)
        return NotImplemented

    # ---- op helpers ----------------------------------------------------------------------------

    def sizes(self, v: Value, node: torch.fx.Node) -> Tuple[Size, ...]:
        shape = self.shapes.get(v.id)
        if shape is None:
            raise InvalidInputError(f"swap_backend needs sample_input_shape to interpret {_where(node, self.gm)} "
                                    "(it reads tensor sizes)")
        return tuple(Size(s, (v.id, i)) for i, s in enumerate(shape))

    def permute(self, node: torch.fx.Node, x: Any, dims: Sequence[int]) -> Value:
        dims = tuple(int(d) for d in dims)
        v = self.unary("permute", node, lambda algo: L.Permute(dims, algorithm=algo), x, node)
        self.specs[-1].extra["dims"] = dims
        return v

    def layernorm(self, node: torch.fx.Node, sel: Any, x: Any, shape: Any, wt: Optional[torch.Tensor],
                  bt: Optional[torch.Tensor], eps: float) -> Value:
        """layer_norm; ``permute(0, 2, 3, 1) -> layer_norm(C) -> permute(0, 3, 1, 2)`` (ConvNeXt's
        LayerNorm2d), where nothing else reads the intermediates, becomes one LayerNorm over the
        channels of the NCHW tensor: no copies to and from channels-last."""
        dt = self.dtype
        shape = [int(shape)] if isinstance(shape, int) else [int(d) for d in shape]
        p = self.producer.get(x.id) if isinstance(x, Value) else None
        src, users = node.args[0], list(node.users)
        if (len(shape) == 1 and p is not None and self.specs[p].extra.get("dims") == (0, 2, 3, 1)
                and isinstance(src, torch.fx.Node) and len(src.users) == 1 and len(users) == 1
                and _permute_dims(users[0]) == (0, 3, 1, 2)):
            nchw = self.specs[p].inputs[0]
            v = self.add(Spec("layernorm", sel, lambda algo: L.LayerNorm(shape, wt, bt, eps, algorithm=algo, dtype=dt,
                                                                         over_channels=True),
                              [nchw], node.name, self.shapes.get(nchw)), users[0])
            self.done[users[0]] = v
            return v
        return self.unary("layernorm", sel, lambda algo: L.LayerNorm(shape, wt, bt, eps, algorithm=algo, dtype=dt),
                          x, node)

    def binary(self, op: str, x: Any, y: Any, node: torch.fx.Node) -> Any:
        if not isinstance(x, (Value, Param)) and not isinstance(y, (Value, Param)):
            return NotImplemented
        xv, yv = self.as_value(x, node), self.as_value(y, node)
        make = (lambda algo: L.Add(algorithm=algo)) if op == "add" else (lambda algo: L.Mul(algorithm=algo))
        return self.add(Spec(op, node, make, [xv.id, yv.id], node.name, self.shapes.get(xv.id)), node)

    def pieces(self, node: torch.fx.Node, kind: str, x: Any, rest: tuple, k: dict) -> Any:
        if not isinstance(x, Value):
            return NotImplemented
        shape = self.shape_of(x, node)
        if kind == "chunk":
            n = self.concrete(rest[0] if rest else k["chunks"], node)
            dim = self.concrete(rest[1] if len(rest) > 1 else k.get("dim", 0), node)
        else:
            n = self.concrete(rest[0] if rest else k.get("split_size_or_sections", k.get("split_size")), node)
            dim = self.concrete(rest[1] if len(rest) > 1 else k.get("dim", 0), node)
        dim = dim + len(shape) if dim < 0 else dim
        total = shape[dim]
        if kind == "chunk":
            step = -(-total // n) if total else 0
            sizes = [min(step, total - i) for i in range(0, total, step)] if step else [0]
        elif isinstance(n, int):
            sizes = [min(n, total - i) for i in range(0, total, n)] if n > 0 else []
        else:
            sizes = list(n)
            if sum(sizes) != total:
                raise InvalidInputError(f"split sizes {sizes} do not sum to {total} in {_where(node, self.gm)}")
        pieces, start = [], 0
        for s in sizes:
            pieces.append((start, s))
            start += s
        # The dim is stored as a negative index so pieces follow a changed batch size.
        return Pieces(x, dim - len(shape), pieces)

    def reshape(self, node: torch.fx.Node, x: Any, shape: Any) -> Any:
        if not isinstance(x, Value) or shape is None:
            return NotImplemented
        if isinstance(shape, (Size, int)):
            shape = (shape,)
        sources = [x.id]
        entries: List[Any] = []
        for s in shape:
            if isinstance(s, Size) and s.src is not None:
                vid, d = s.src
                if vid not in sources:
                    sources.append(vid)
                entries.append((sources.index(vid), d))
            else:
                entries.append(int(self.concrete(s, node)))
        n = len(sources)
        return self.add(Spec("reshape", node, lambda algo: L.Reshape(entries, n, algorithm=algo), sources, node.name,
                             self.shapes.get(x.id)), node)

    def mean(self, node: torch.fx.Node, x: Any, dim: Any, keepdim: Any, k: dict) -> Any:
        if not isinstance(x, Value) or k.get("dtype") is not None:
            return NotImplemented
        dim = self.concrete(dim, node)
        if dim is None:
            dim = list(range(len(self.shape_of(x, node))))
        elif isinstance(dim, int):
            dim = [dim]
        dims, kd = list(dim), bool(keepdim)
        return self.unary("mean", node, lambda algo: L.Mean(dims, kd, algorithm=algo), x, node)

    # ---- finishing -------------------------------------------------------------------------------

    def pruned(self) -> Tuple[List[Spec], List[List[int]], int]:
        """The specs the output depends on, renumbered (unused pieces and sizes cost nothing)."""
        assert self.output is not None
        live = set()
        stack = [self.output]
        while stack:
            v = stack.pop()
            if v == 0 or v in live:
                continue
            live.add(v)
            stack.extend(self.specs[v - 1].inputs)
        keep = sorted(live)
        new_id = {0: 0}
        for i, v in enumerate(keep):
            new_id[v] = i + 1
        specs = [self.specs[v - 1] for v in keep]
        inputs = [[new_id[u] for u in s.inputs] for s in specs]
        return specs, inputs, new_id[self.output]


def _is_stochastic_depth(f: Any) -> bool:
    """torchvision.ops.stochastic_depth (fx-wrapped, so it appears as a call)."""
    return getattr(f, "__name__", "") == "stochastic_depth" and getattr(f, "__module__", "").startswith("torchvision")


def _permute_dims(node: torch.fx.Node) -> Optional[Tuple[int, ...]]:
    """The constant dims of a permute node, or None if it is not one."""
    if node.op == "call_function" and node.target is torch.permute:
        dims = _arg(node.args, node.kwargs, 1, "dims", None)
    elif node.op == "call_method" and node.target == "permute":
        dims = node.args[1] if len(node.args) == 2 and isinstance(node.args[1], (tuple, list)) else node.args[1:]
    else:
        return None
    if not isinstance(dims, (tuple, list)) or not all(isinstance(d, int) for d in dims):
        return None
    return tuple(dims)


class _Slot:
    """Where a runtime tensor goes in a torch node's arguments."""

    def __init__(self, i: int) -> None:
        self.i = i


class _MethodCall:
    """``x.<name>(*args)``: a call_method node's target (a class, so a saved Model pickles it)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, self_: Any, *a: Any, **k: Any) -> Any:
        return getattr(self_, self.name)(*a, **k)


class _TorchCall:
    """A node torch runs inside an ai3 graph: ``target(*args, **kwargs)`` with the node's
    runtime tensors put where the ``_Slot``s are. A class rather than a closure so that
    saving the Model pickles it (target: a module copy, a method name or a torch function)."""

    def __init__(self, target: Any, args: Any, kwargs: Any) -> None:
        self.target, self.args, self.kwargs = target, args, kwargs

    def __call__(self, *xs: torch.Tensor) -> Any:
        def fill(x: Any) -> Any:
            return xs[x.i] if isinstance(x, _Slot) else x
        a, k = torch.fx.node.map_aggregate((self.args, self.kwargs), fill)
        return self.target(*a, **k)


def _unbuilt(_algo: str) -> L.Layer:
    raise AssertionError("a spec's build is set right after the spec is made")


def _conv_layer(spec: Spec, algo: str, dtype: str) -> L.Conv2D:
    """The conv's layer, with a following BatchNorm2d folded into its weight and bias:
    w' = w * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps) (computed in float64)."""
    m = spec.conv
    assert m is not None, "a conv2d spec holds its conv"
    if spec.bn is None:
        return L.Conv2D.from_torch(m, algo, dtype=dtype)
    bn = spec.bn
    w = m.weight.detach().to(torch.float64)
    b = m.bias.detach().to(torch.float64) if m.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    var = bn.running_var.detach().to(torch.float64)
    mean = bn.running_mean.detach().to(torch.float64)
    s = 1.0 / torch.sqrt(var + bn.eps)
    if bn.weight is not None:
        s = s * bn.weight.detach().to(torch.float64)
    shift = bn.bias.detach().to(torch.float64) if bn.bias is not None else torch.zeros_like(s)
    w2 = w * s.reshape(-1, 1, 1, 1)
    b2 = (b - mean) * s + shift
    return L.Conv2D(w2, b2, m.stride, m.padding, m.dilation, m.groups, m.padding_mode, algorithm=algo, dtype=dtype)
