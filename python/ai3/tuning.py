"""Measured algorithm choice: ``ai3.tune`` and the on-disk cache ``default`` reads.

``tune`` times every candidate conv2d algorithm on each layer's real shape and
stores the winner under a key of (layer shape, dtype, device, threads), per CPU
instruction set, in ``$AI3_CACHE_DIR/tuned.json`` (default
``~/.cache/ai3/tuned.json``). At import ai3 loads the entries for this CPU's
instruction set, so ``default`` runs the measured winner in later processes too;
shapes never tuned fall back to ``guess``.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from . import _core, _sycl_backend
from ._convert import conv_padding, dtype_name
from ._shapes import record_input_shapes
from .algorithms import check_algorithm
from .devices import CPU, Device, devices, resolve_device
from .errors import InvalidInputError, UnsupportedError
from .layers import Conv2D
from .model import Model
from .ops import conv_layer_for, forget_layers
from .swap import swap_conv2d

# 2: keys no longer name the bias (version-1 files are read as empty, so re-tune).
_CACHE_VERSION = 2


def cache_path() -> Path:
    """Where tuned winners are stored."""
    base = os.environ.get("AI3_CACHE_DIR")
    if base:
        return Path(base) / "tuned.json"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "ai3" / "tuned.json"


def _read(path: Path) -> Dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        if data.get("version") == _CACHE_VERSION and isinstance(data.get("isa"), dict):
            return data
    except (OSError, ValueError, AttributeError):
        pass  # a missing or corrupt cache only means nothing was tuned
    return {"version": _CACHE_VERSION, "isa": {}}


def _write(path: Path, data: Dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tuned-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        # Insertion order, not sorted: a record's "seconds" keep the order they were measured
        # in, so two equal times resolve to the same winner on reload as in tune().
        json.dump(data, f, indent=1)
    os.replace(tmp, path)  # atomic: concurrent readers see the old or the new file


def load_cache(path: Optional[Path] = None) -> int:
    """Load this CPU's tuned winners into the core; returns how many were loaded."""
    entries = _read(path or cache_path())["isa"].get(_core.cpu_isa(), {})
    for key, rec in entries.items():
        if isinstance(rec, dict) and isinstance(rec.get("algorithm"), str):
            _core.set_tuned(key, rec["algorithm"])
    return len(entries)


def _time(fn, repeats: int) -> float:
    fn()  # warm-up: builds the kernel, touches the memory
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def candidate_algorithms(dtype: str) -> List[str]:
    """The concrete conv2d algorithms registered for the CPU and this dtype."""
    concrete = ("direct", "smm", "gemm", "implicit gemm", "implicit precomp gemm", "winograd")
    have = {a for op, a, b, d in _core.registry_entries() if op == "conv2d" and b == "cpu" and d == dtype}
    return [a for a in concrete if a in have]


def tune(
    module: Any,
    sample_input: Any,
    algorithms: Optional[Sequence[str]] = None,
    *,
    repeats: int = 3,
    progress: bool = True,
    save: bool = True,
    path: Optional[os.PathLike] = None,
) -> Dict[str, str]:
    """Time the candidate conv2d algorithms on every conv layer of ``module`` and
    remember the fastest, so that ``"default"`` runs it from now on (in this and
    later processes).

    Args:
        module: an ``nn.Module`` (swapped or not) or an :class:`ai3.Model`.
        sample_input: a tensor (or just a shape) of the input the model will see;
            layers are tuned for the shapes it produces (batch size included).
        algorithms: the candidates (default: every concrete algorithm this build has).
        repeats: timed runs per candidate (median taken, after one warm-up).
        progress: show a progress bar.
        save: write the winners to the on-disk cache (``path`` or :func:`cache_path`).

    Returns:
        layer name -> winning algorithm.
    """
    shape = tuple(sample_input.shape) if hasattr(sample_input, "shape") else tuple(sample_input)
    # (name, weight shape, has bias, stride, pads, dilation, groups, padding mode, dtype, input shape)
    jobs: List[Tuple] = []
    if isinstance(module, Model):
        for i, (layer, in_shape) in enumerate(zip(module.layers, _layer_input_shapes(module, shape))):
            if isinstance(layer, Conv2D):
                jobs.append((f"layers.{i}", layer.weight_shape, layer.has_bias, layer.stride, layer.padding,
                             layer.dilation, layer.groups, layer.padding_mode, layer.dtype, in_shape))
    elif isinstance(module, nn.Module):
        names = {id(m): n for n, m in module.named_modules()}
        order, shapes = record_input_shapes(module, shape, lambda m: type(m).__name__ == "Conv2d"
                                            and isinstance(m, nn.Conv2d))
        for m in order:
            in_shape = shapes[id(m)]
            if len(in_shape) == 3:
                in_shape = (1,) + in_shape
            jobs.append((names.get(id(m), "?"), tuple(m.weight.shape), m.bias is not None, tuple(m.stride),
                         conv_padding(m.padding, m.kernel_size, m.dilation, m.stride), tuple(m.dilation), m.groups,
                         m.padding_mode, dtype_name(m.weight.dtype), in_shape))
    else:
        raise InvalidInputError(f"ai3.tune takes an nn.Module or an ai3.Model, got {type(module).__name__}")
    if not jobs:
        return {}
    dtype = jobs[0][8]
    cands = list(algorithms) if algorithms is not None else candidate_algorithms(dtype)
    for a in cands:
        check_algorithm("conv2d", a)

    bar = _progress(len(jobs) * len(cands), progress)
    winners: Dict[str, str] = {}
    data = _read(Path(path) if path else cache_path()) if save else None
    isa = _core.cpu_isa()
    done: Dict[str, str] = {}
    for name, wshape, has_bias, stride, pads, dil, groups, mode, dt, in_shape in jobs:
        tdt = getattr(torch, dt)
        x = torch.randn(in_shape, dtype=tdt)
        w = torch.randn(wshape, dtype=tdt)
        b = torch.randn(wshape[0], dtype=tdt) if has_bias else None
        key = conv_layer_for(wshape, has_bias, stride, pads, dil, groups, mode, "default").tune_key(list(in_shape), dt)
        if key in done:  # an identical layer already measured in this call
            winners[name] = done[key]
            bar.update(len(cands))
            continue
        times: Dict[str, float] = {}
        for algo in cands:
            if _core.conv2d_refusal(algo, tuple(wshape[2:]), stride, dil, groups):
                bar.update(1)
                continue  # winograd on a layer it cannot run
            kernel_layer = conv_layer_for(wshape, has_bias, stride, pads, dil, groups, mode, algo)
            out = torch.empty(kernel_layer.out_shape(list(in_shape)), dtype=tdt)

            def run(layer=kernel_layer, out=out):
                layer.forward_with(x.data_ptr(), list(in_shape), w.data_ptr(), 0 if b is None else b.data_ptr(),
                                   out.data_ptr(), dt)

            times[algo] = _time(run, repeats)
            bar.update(1)
        if not times:
            raise UnsupportedError(f"none of the algorithms {cands} can run layer {name}")
        best = min(times, key=lambda a: times[a])
        winners[name] = done[key] = best
        _core.set_tuned(key, best)
        if data is not None:
            data["isa"].setdefault(isa, {})[key] = {"algorithm": best, "seconds": times}
    bar.close()
    if data is not None:
        _write(Path(path) if path else cache_path(), data)
    _forget_resolutions(module)
    return winners


def _layer_input_shapes(model: Any, shape: Tuple[int, ...]) -> List[Tuple[int, ...]]:
    """The (first) input shape of each layer of an ai3.Model, chain or graph form."""
    if model.inputs is None:  # the chain: each layer feeds the next
        shapes = []
        for layer in model.layers:
            shapes.append(shape)
            shape = layer.out_shape(shape)
        return shapes
    values = model._core.value_shapes(list(shape), model.dtype or "float32")
    return [values[ins[0]] for ins in model.inputs]


def _forget_resolutions(module: Any) -> None:
    """Make layers that already resolved ``default`` resolve it again."""
    forget_layers()
    if isinstance(module, Model):
        module._core.clear_cache()  # its plans (fusion included) and every layer's kernels


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="ai3.tune", unit="run")


def _constants_key(dtype: str) -> str:
    return f"{dtype}|t={_core.get_num_threads()}"


def _constants_slot(backend: str) -> str:
    # The CPU fallback's constants follow its instruction set; a device backend's are
    # stored under its name (the cost model keeps one set per backend).
    return _core.cpu_isa() if backend == "cpu" else f"backend:{backend}"


def calibrate(dtypes: Sequence[str] = ("float32", "float64"), *, device: Any = None, save: bool = True,
              path: Optional[os.PathLike] = None) -> Dict[str, Dict[str, float]]:
    """Measure the machine constants of ``guess``'s cost model on this machine.

    Times each algorithm once on fixed reference layers (about a second in all on
    the CPU) and installs the constants; with ``save`` they are stored next to the
    tuned winners and loaded by later processes. Until then ``guess`` uses constants
    measured on the reference machine's CPU. ``device`` (keyword-only; default the
    CPU fallback) calibrates a device backend instead, e.g. ``"opencl:cpu"``: its
    kernels are timed on device memory, as an ``ai3.Model`` runs them, and the
    constants apply to that backend's ``guess``/``default``.
    """
    dev = CPU if device is None else resolve_device(device)
    out = {}
    for dt in dtypes:
        if dtype_name(dt) == "float64" and dev.backend == "sycl" and not _sycl_fp64(dev):
            continue  # the device cannot run float64 kernels: nothing to measure
        c = _core.calibrate(dtype_name(dt), dev.core)
        _core.set_cost_constants(dtype_name(dt), c, dev.backend)
        out[dtype_name(dt)] = c
    if save:
        p = Path(path) if path else cache_path()
        data = _read(p)
        slot = data.setdefault("constants", {}).setdefault(_constants_slot(dev.backend), {})
        for dt, c in out.items():
            slot[_constants_key(dt)] = c
        _write(p, data)
    _forget_resolutions(None)
    return out


def _sycl_fp64(dev: Device) -> bool:
    return bool(_sycl_backend.info(dev).get("fp64"))


def load_constants(path: Optional[Path] = None) -> int:
    """Install calibrated cost-model constants for this CPU (and any calibrated device
    backend) and thread count, if stored."""
    stored = _read(path or cache_path()).get("constants", {})
    n = 0
    for backend in ("cpu", "sycl", "cuda"):
        slot = stored.get(_constants_slot(backend), {})
        for dt in ("float32", "float64"):
            c = slot.get(_constants_key(dt))
            if isinstance(c, dict):
                _core.set_cost_constants(dt, {k: float(v) for k, v in c.items()}, backend)
                n += 1
    return n


def measure_cpu_devices(*, repeats: int = 5, save: bool = True) -> Dict[str, float]:
    """Time a reference conv layer (64->64 channels, 3x3, 56x56, ``default``) on the
    fallback and on each SYCL CPU device; store the seconds for the default device policy
    (:func:`ai3._sycl_backend.choose_default`)."""
    x = torch.randn(1, 64, 56, 56)
    out: Dict[str, float] = {}
    targets = [CPU] + [d for d in devices() if d.backend == "sycl" and _sycl_backend.info(d).get("kind") == "cpu"]
    for target in targets:
        conv = torch.nn.Conv2d(64, 64, 3, padding=1)
        swap_conv2d(conv, "default", device=target)
        with torch.no_grad():
            conv(x)  # compile, upload, resolve
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                conv(x)
                times.append(time.perf_counter() - t0)
        out["cpu" if target is CPU else target.name] = sorted(times)[len(times) // 2]
    if save:
        _sycl_backend.save_measurements(out)
    return out
