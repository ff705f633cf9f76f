"""``ai3.Model``: a network executed by ai3 alone."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import _core, _sycl_backend
from ._convert import (
    DL_CPU,
    DL_CUDA,
    DL_CUDA_HOST,
    DL_ONEAPI,
    dlpack_device_name,
    dlpack_host_input,
    dlpack_tensor,
    dtype_name,
    input_array,
    is_dlpack,
    usm_array,
)
from .algorithms import check_algorithm
from .devices import Device, resolve_device
from .errors import DeviceError, DTypeError, InvalidInputError
from .layers import Conv2D, Layer
from .tensor import Tensor


class Model:
    """The model which performs the operations using the user specified algorithms.

    Two forms, both run in one C++ call (no Python per layer):

    * ``Model(layers)`` (the chain form): each of the :mod:`ai3.layers` objects
      feeds the next; intermediate activations live in two buffers planned once per
      input shape, and ReLU and Flatten reuse them in place.
    * ``Model(layers, inputs=..., output=...)`` (the graph form, what
      :func:`ai3.swap_backend` builds): a DAG. Value 0 is the model's input and
      value ``k + 1`` the output of ``layers[k]``, which reads the values listed in
      ``inputs[k]`` (earlier values only: layers are in topological order);
      ``output`` is the value returned (default: the last layer's). Buffers are
      planned once per (input shape, dtype, device): a buffer is reused once the
      value in it is dead, elementwise layers overwrite an input that dies at them,
      and views (reshape, flatten) share their input's buffer.

    A Model is for inference: it has no training mode, and :func:`ai3.swap_backend`
    drops Dropout, StochasticDepth and Identity modules when it builds one.

    A Model can be saved and copied: ``pickle``, ``copy.deepcopy`` and
    ``torch.save(model, path)`` / ``torch.load(path, weights_only=False)`` work without
    the original ``nn.Module``, and keep each layer's algorithm and what ``default``
    resolved to (see :meth:`state`); ``torch.save(model.state(), path)`` /
    ``ai3.Model.from_state(torch.load(path, weights_only=True))`` is the route that
    unpickles nothing but tensors and plain values.
    """

    _STATE_VERSION = 1

    def __init__(self, layers: Sequence[Layer], *, inputs: Optional[Sequence[Sequence[int]]] = None,
                 output: Optional[int] = None, device: Any = None) -> None:
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise InvalidInputError(
                    f"ai3.Model takes ai3.layers objects; item {i} is {type(layer).__name__}"
                )
        dtypes = {layer.dtype for layer in layers if layer.dtype is not None}
        if len(dtypes) > 1:
            raise DTypeError(f"ai3.Model layers mix parameter dtypes {sorted(dtypes)}")
        self._layers: List[Layer] = layers
        self._dtype: Optional[str] = dtypes.pop() if dtypes else None
        self._device: Device = resolve_device(device)
        self._inputs: Optional[List[List[int]]] = None
        self._core: Any  # _core.Model (the chain) or _core.Graph
        if inputs is None and output is None:
            self._core = _core.Model([layer._core for layer in layers])
            return
        if inputs is None:
            inputs = [[i] for i in range(len(layers))]
        try:
            ins = [[int(v) for v in vs] for vs in inputs]
        except (TypeError, ValueError):
            raise InvalidInputError("ai3.Model inputs must be a sequence of sequences of value ids (ints)") from None
        out = len(layers) if output is None else int(output)
        self._inputs = ins
        self._core = _core.Graph([layer._core for layer in layers], ins, out)

    @property
    def inputs(self) -> Optional[List[List[int]]]:
        """The graph form's input value ids per layer (None for a chain)."""
        return None if self._inputs is None else [list(v) for v in self._inputs]

    @property
    def output(self) -> int:
        """The value the Model returns (value k + 1 is layer k's output)."""
        return self._core.output if self._inputs is not None else len(self._layers)

    def buffer_plan(self, input_shape: Sequence[int], dtype: str = "float32") -> dict:
        """The graph form's buffer plan for an input shape: ``shapes`` (per value),
        ``slot`` (the buffer each value lives in, -1 = the input's own memory) and
        ``slot_bytes`` (the size of each buffer)."""
        if self._inputs is None:
            raise InvalidInputError("buffer_plan describes the graph form of ai3.Model")
        return dict(self._core.plan(list(input_shape), dtype))

    def value_layouts(self) -> Optional[List[str]]:
        """How each value of the graph form was stored by the last forward: ``"nchw"``
        or ``"nhwc"`` (value 0 is the input, value k + 1 layer k's output). On the CPU,
        regions of layers with NHWC kernels around a depthwise convolution run NHWC,
        with conversions only where a region meets the rest. None before a forward;
        the chain form is NCHW throughout."""
        if self._inputs is None:
            return None
        return list(self._core.value_layouts()) or None

    @property
    def layers(self) -> List[Layer]:
        """The model's layers, in order."""
        return list(self._layers)

    @property
    def dtype(self) -> Optional[str]:
        """The parameters' dtype (``"float32"``/``"float64"``), or None without parameters."""
        return self._dtype

    @property
    def device(self) -> Device:
        return self._device

    def out_shape(self, input_shape: Sequence[int]) -> tuple:
        """The output shape for an input shape; raises InvalidInputError naming the layer that rejects it."""
        return tuple(self._core.out_shape(list(input_shape)))

    def _usm_input(self, x: Any) -> Tuple[Any, int, Tuple[int, ...], str]:
        """An input in USM device memory (``__sycl_usm_array_interface__``): checked to belong
        to the model's SYCL device (its context), then read in place."""
        device = self._device
        if device.backend != "sycl":
            raise DeviceError(f"this input is SYCL USM memory, but the model runs on {device}; "
                              f"build the model with device= a SYCL device")
        keep, ptr, shape, dtype = usm_array(x)
        if not _sycl_backend.owns_pointer(device, ptr):
            raise DeviceError(f"this USM memory does not belong to {device.name}'s SYCL context; allocate it on "
                              f"a queue of that device (dpctl.SyclQueue({device.name!r}))")
        return keep, ptr, shape, dtype

    def _dlpack_stream(self, device: Tuple[int, int]) -> Any:
        """The stream argument for an exporter's ``__dlpack__``: the stream ai3 reads on."""
        if device[0] == DL_CUDA and self._device.backend == "cuda":
            stream = torch.cuda.current_stream(device[1]).cuda_stream
            return stream if stream != 0 else 1  # DLPack spells CUDA's legacy default stream 1, never 0
        return None

    def _dlpack_input(self, x: Any) -> Tuple[Any, int, Tuple[int, ...], str]:
        """A DLPack capsule or exporter: host memory is read like a numpy array, device memory in
        place on the model's own device (a CUDA GPU, or a SYCL device whose context owns it)."""
        t = dlpack_tensor(x, self._dlpack_stream)
        kind, index = t.device
        device = self._device
        if kind in (DL_CPU, DL_CUDA_HOST):
            return dlpack_host_input(t)
        where = dlpack_device_name(t.device)
        if kind == DL_CUDA:
            if device.backend != "cuda" or device.index != index:
                raise DeviceError(f"the input is DLPack memory on the {where}, but ai3.Model runs on {device}")
        elif kind == DL_ONEAPI:
            if device.backend != "sycl":
                raise DeviceError(f"the input is DLPack memory on the {where}, but ai3.Model runs on {device}")
            if not _sycl_backend.owns_pointer(device, t.data):
                raise DeviceError(f"the input is DLPack memory on the {where}, outside {device.name}'s SYCL "
                                  f"context; allocate it on a queue of that device")
        else:
            raise DeviceError(f"the input is DLPack memory on the {where}, which ai3 cannot read")
        if not t.contiguous:
            raise InvalidInputError(f"a DLPack input in device memory must be C-contiguous, got shape {t.shape} "
                                    f"and strides {t.strides} (elements)")
        return t, t.data, tuple(t.shape), t.dtype

    def _run(self, input: Any) -> Tensor:
        if isinstance(input, torch.Tensor) and input.device.type == "cuda" and self._device.backend == "cuda":
            # A CUDA tensor for a CUDA model: its device memory goes straight in (one
            # device-to-device copy into the model's buffers, on torch's current stream).
            if input.device.index != self._device.index:
                raise DeviceError(f"ai3.Model runs on {self._device}, but the input is on {input.device}")
            x = input.detach().contiguous()
            keep, ptr, shape, dtype = x, x.data_ptr(), tuple(x.shape), dtype_name(x.dtype, "input dtype")
        elif hasattr(input, "__sycl_usm_array_interface__"):  # device memory: read in place, no host copy
            keep, ptr, shape, dtype = self._usm_input(input)
        elif not isinstance(input, (torch.Tensor, np.ndarray, Tensor)) and is_dlpack(input):
            keep, ptr, shape, dtype = self._dlpack_input(input)
        else:
            keep, ptr, shape, dtype = input_array(input)
        if self._dtype is not None and dtype != self._dtype:
            raise DTypeError(
                f"ai3.Model has {self._dtype} parameters but the input is {dtype}; "
                f"convert the input (or build the model with dtype={dtype!r})"
            )
        out = self._core.forward(ptr, list(shape), dtype, self._device.core)
        del keep
        return out

    def predict(self, input: Any, out_type: Any = None) -> Any:
        """Returns the output after passing input through the layers.

        ``input`` is a torch tensor, numpy array, ai3.Tensor, SYCL USM array, or a DLPack
        tensor (a capsule, or any object with ``__dlpack__``: CuPy, JAX, dpctl...) in host memory
        or on the model's own device, read without a copy. With ``out_type``
        None the result is an :class:`ai3.Tensor`; otherwise it is converted to
        ``out_type`` (``torch.Tensor``, ``numpy.ndarray`` or ``ai3.Tensor``)
        without a copy.
        """
        out = self._run(input)
        return out if out_type is None else out.to(out_type)

    def profile(self, input: Any, *, repeats: int = 10, warmup: int = 1) -> List[dict]:
        """Per-layer time of running ``input`` through the model, for finding slow layers.

        Runs ``warmup`` untimed passes (first calls plan buffers, pick algorithms and
        compile kernels), then ``repeats`` timed ones, and returns one dict per layer:
        ``index``, ``op``, ``algorithm`` (what it ran: e.g. ``"fused"`` for a ReLU done
        by its convolution's epilogue) and ``ms`` (mean wall time per run; 0 for layers
        that ran no kernel: fused ReLUs, views). On a device backend each layer is
        synchronised before its time is taken, so the sum can exceed a normal run's time.
        """
        if repeats < 1 or warmup < 0:
            raise InvalidInputError(f"profile needs repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
        for _ in range(warmup):
            self._run(input)
        self._core.set_profiling(True)
        try:
            for _ in range(repeats):
                self._run(input)
            seconds = self._core.layer_seconds()
        finally:
            self._core.set_profiling(False)
        return [{"index": i, "op": layer._core.op, "algorithm": layer.resolved_algorithm or layer.algorithm,
                 "ms": s * 1e3} for i, (layer, s) in enumerate(zip(self._layers, seconds))]

    def __call__(self, input: Any) -> Any:
        """Like predict, returning the input's own type: torch in, torch out; numpy in, numpy out;
        anything else (a DLPack capsule, a USM array) gives an :class:`ai3.Tensor`, which is
        itself a DLPack exporter (``torch.from_dlpack(out)`` shares its memory)."""
        out = self._run(input)
        if isinstance(input, torch.Tensor):
            # The core Model returns host memory; a CUDA input gets its result back on its GPU.
            return out.torch() if input.device.type == "cpu" else out.torch().to(input.device)
        if isinstance(input, np.ndarray):
            return out.numpy()
        return out

    forward = __call__

    # ---- saving ------------------------------------------------------------------------

    def state(self) -> Dict[str, Any]:
        """The Model as plain Python values and torch tensors (nothing else to unpickle):
        its layers (:meth:`ai3.layers.Layer.state`), graph wiring, device name, and
        ``resolved``: for each ``default`` convolution and input shape it has run, the
        concrete algorithm it resolved to (tuned or guessed), keyed as ``ai3.tune`` keys
        its winners. :meth:`from_state` installs those where this process has not tuned
        the same key, so a loaded Model runs the algorithms the saved one ran.

        A ``TorchFunction`` node (``unsupported="torch"``) keeps its function object,
        which only a full unpickle (``weights_only=False``) restores."""
        resolved: Dict[str, str] = {}
        for layer in self._layers:
            if not isinstance(layer, Conv2D) or layer.algorithm != "default":
                continue
            for tag, shape, dtype, algo in layer._core.resolutions():
                if tag.startswith("conv2d") and not tag.endswith("/nhwc") and algo not in ("", "default", "guess"):
                    resolved[layer._core.tune_key(list(shape), dtype, self._device.core)] = algo
        return {"version": self._STATE_VERSION, "layers": [layer.state() for layer in self._layers],
                "inputs": self.inputs, "output": self.output if self._inputs is not None else None,
                "device": str(self._device), "resolved": resolved}

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> Model:
        """The Model :meth:`state` describes (see there)."""
        if not isinstance(state, dict) or state.get("version") != cls._STATE_VERSION:
            found = state.get("version") if isinstance(state, dict) else type(state).__name__
            raise InvalidInputError(f"not an ai3.Model state of version {cls._STATE_VERSION} (got {found!r})")
        layers = [Layer.from_state(s) for s in state["layers"]]
        if state["inputs"] is None:
            model = cls(layers, device=state["device"])
        else:
            model = cls(layers, inputs=state["inputs"], output=state["output"], device=state["device"])
        for key, algo in state.get("resolved", {}).items():
            check_algorithm("conv2d", algo)
            if _core.tuned(key) is None:  # a winner tuned in this process takes precedence
                _core.set_tuned(key, algo)
        return model

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return _model_from_state, (self.state(),)

    def __repr__(self) -> str:
        if self._inputs is not None:
            inner = "\n".join(f"  ({i}): {layer!r} <- {self._inputs[i]}" for i, layer in enumerate(self._layers))
            return f"ai3.Model(device={self._device}, dtype={self._dtype}, output={self.output},\n{inner}\n)"
        inner = "\n".join(f"  ({i}): {layer!r}" for i, layer in enumerate(self._layers))
        return f"ai3.Model(device={self._device}, dtype={self._dtype},\n{inner}\n)"


def _model_from_state(state: Dict[str, Any]) -> Model:
    return Model.from_state(state)
