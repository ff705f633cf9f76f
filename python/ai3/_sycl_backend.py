"""ai3's SYCL backend on the Python side: environment, devices and warm-up.

``ai3._sycl`` (the kernels) is imported lazily, after :mod:`dpctl`, so a missing
SYCL runtime never breaks ``import ai3``; :func:`unavailable_reason` says why SYCL
is off. Devices are dpctl's: ``"sycl"`` is dpctl's default device, any other
string a dpctl filter selector (``"opencl:cpu"``), and ``dpctl.SyclDevice`` /
``dpctl.SyclQueue`` objects are taken as they are (a queue keeps its context, so
USM memory made on it is usable by ai3 without a copy).

A leaf of the package: it hands out plain :class:`SyclDevice` records, from which
:mod:`ai3.devices` builds its ``Device`` objects and user-facing messages.
"""

from __future__ import annotations

import atexit
import functools
import glob
import importlib.metadata
import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from ._install import install_command
from .errors import DeviceError

_lock = threading.RLock()
_module: Any = None
_reason: Optional[str] = None
_loaded = False


# ---- environment (before the first SYCL query in the process) ------------------------------------

def _package_file(dist: str, filename: str) -> Optional[str]:
    try:
        d = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in d.files or ():
        if f.name == filename:
            path = Path(str(d.locate_file(f))).resolve()
            if path.exists():
                return str(path)
    return None


def cache_dir() -> Path:
    """ai3's cache directory (``$AI3_CACHE_DIR``, else ``$XDG_CACHE_HOME/ai3``, else ``~/.cache/ai3``)."""
    base = os.environ.get("AI3_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "ai3"


def prepare_environment() -> None:
    """Make the OpenCL CPU device visible and turn on libsycl's persistent kernel cache.

    The intel-opencl-rt wheel's ICD file names a path that does not exist, so the
    OpenCL loader finds no CPU device unless ``OCL_ICD_FILENAMES`` points at its
    ``libintelocl.so``. This only works before the process's first SYCL platform
    query, which is why ``import ai3`` calls it. A user's own settings are kept.
    """
    if "OCL_ICD_FILENAMES" not in os.environ and "OCL_ICD_VENDORS" not in os.environ:
        lib = _package_file("intel-opencl-rt", "libintelocl.so")
        if lib:
            os.environ["OCL_ICD_FILENAMES"] = lib
    os.environ.setdefault("SYCL_CACHE_PERSISTENT", "1")
    os.environ.setdefault("SYCL_CACHE_DIR", str(cache_dir() / "sycl"))


# ---- the extension module ----------------------------------------------------------------------

def load() -> Any:
    """``ai3._sycl``, or None (then :func:`unavailable_reason` says why)."""
    global _module, _reason, _loaded
    with _lock:
        if _loaded:
            return _module
        _loaded = True
        from . import _core

        status = _core.build_info()["backends"].get("sycl", "off")
        if status.startswith("off"):
            _reason = f"not built ({status})"
            return None
        try:
            import dpctl  # noqa: F401  (before ai3._sycl: its casters need dpctl's C API)
        except ImportError as e:
            _reason = f"dpctl cannot be imported ({e}); {install_command('sycl')}"
            return None
        try:
            from . import _sycl
        except ImportError as e:
            _reason = f"ai3._sycl cannot be loaded ({e})"
            return None
        # SYCL objects must be released before libsycl tears itself down at exit.
        atexit.register(_sycl.shutdown)
        _module = _sycl
        return _module


def unavailable_reason() -> Optional[str]:
    """Why no SYCL device is usable (None when one is)."""
    if load() is None:
        return _reason
    if not _dpctl_devices():
        return _no_device_reason()
    return None


def _no_device_reason() -> str:
    hint = ""
    if _package_file("intel-opencl-rt", "libintelocl.so") is None:
        hint = f" Install the OpenCL CPU runtime intel-opencl-rt: {install_command('sycl')}."
    elif "OCL_ICD_FILENAMES" in os.environ:
        hint = f" OCL_ICD_FILENAMES={os.environ['OCL_ICD_FILENAMES']}."
    return "SYCL is built, but dpctl sees no SYCL device." + hint


@functools.cache
def _dpctl_devices() -> Tuple[Any, ...]:
    try:
        import dpctl

        return tuple(dpctl.get_devices())
    except Exception:  # a broken runtime means "no SYCL devices", never a crash
        return ()


def device_kind(d: Any) -> str:
    """``"gpu"``, ``"cpu"`` or ``"accelerator"`` for a dpctl device."""
    return str(d.device_type).split(".")[-1]


# ---- devices ----------------------------------------------------------------------------------

_info: Dict[int, Dict[str, Any]] = {}  # handle -> {"kind", "fp64", "filter"}


@dataclass(frozen=True)
class SyclDevice:
    """A usable SYCL device: its dpctl filter string, its index among dpctl's devices and
    the ``ai3._sycl`` queue handle ai3's kernels run on."""

    name: str
    index: int
    handle: int


def _make(d: Any, handle: int, index: int) -> SyclDevice:
    _info[handle] = {"kind": device_kind(d), "fp64": bool(d.has_aspect_fp64), "filter": d.filter_string}
    return SyclDevice(d.filter_string, index, handle)


@functools.cache
def sycl_devices() -> Tuple[SyclDevice, ...]:
    """The usable SYCL devices, named by dpctl filter strings."""
    mod = load()
    if mod is None:
        return ()
    out = []
    for i, d in enumerate(_dpctl_devices()):
        try:
            out.append(_make(d, mod.handle_for(d), i))
        except Exception:  # a device whose queue cannot be made is not usable
            continue
    return tuple(out)


def info(device: Any) -> Dict[str, Any]:
    """What ai3 knows about a resolved SYCL device (anything with its ``handle``): kind,
    fp64, dpctl filter string."""
    return dict(_info.get(device.handle, {}))


def resolve(spec: Any) -> SyclDevice:
    """A SYCL device from ``"sycl"``, a dpctl filter string, a dpctl.SyclDevice or SyclQueue.
    The DeviceError it raises says what failed; ai3.devices adds the usable devices."""
    mod = load()
    if mod is None:
        raise DeviceError(f"device {spec!r} needs ai3's SYCL backend, which is {_reason}")
    import dpctl

    index_of = {d.name: d.index for d in sycl_devices()}
    if isinstance(spec, dpctl.SyclQueue):
        d = spec.sycl_device
        return _make(d, mod.handle_for(spec), index_of.get(d.filter_string, 0))
    if isinstance(spec, dpctl.SyclDevice):
        d = spec
    else:
        text = str(spec).strip()
        try:
            d = dpctl.select_default_device() if text.lower() == "sycl" else dpctl.SyclDevice(text)
        except Exception as e:  # dpctl raises SyclDeviceCreationError / ValueError / TypeError
            reason = "" if sycl_devices() else f" ({_no_device_reason()})"
            raise DeviceError(f"no SYCL device matches {spec!r}: {e}{reason}") from None
    for dev in sycl_devices():
        if dev.name == d.filter_string:
            return dev
    return _make(d, mod.handle_for(d), index_of.get(d.filter_string, len(index_of)))


# ---- the default device policy ----------------------------------------------------------------

def choose_default(devices: Sequence[Tuple[str, str]], measurements: Mapping[str, float]) -> str:
    """The device ``device=None`` picks for a model whose parameters are on the CPU.

    ``devices`` lists (name, kind) of the SYCL devices, kind in {"gpu", "cpu",
    "accelerator"}; ``measurements`` maps device names (and ``"cpu"`` for the
    portable fallback) to measured seconds of the same reference workload. A SYCL
    GPU comes first; otherwise the faster of the SYCL CPU devices and the fallback
    by measurement, and the fallback when nothing was measured. Pure: no I/O.
    """
    for name, kind in devices:
        if kind == "gpu":
            return name
    best, best_time = "cpu", measurements.get("cpu")
    if best_time is None:  # the fallback unmeasured: nothing to compare against
        return best
    for name, kind in devices:
        t = measurements.get(name)
        if kind == "cpu" and t is not None and t < best_time:
            best, best_time = name, t
    return best


def _measurements_path() -> Path:
    return cache_dir() / "sycl-measurements.json"


def load_measurements() -> Dict[str, float]:
    """Seconds per reference workload stored by :func:`ai3.tuning.measure_cpu_devices` (empty if
    never run)."""
    try:
        data = json.loads(_measurements_path().read_text())
        return {str(k): float(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def save_measurements(seconds: Mapping[str, float]) -> None:
    """Store what :func:`ai3.tuning.measure_cpu_devices` measured, for :func:`load_measurements`."""
    path = _measurements_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(seconds), indent=1))


# Kernel-driver device nodes every SYCL GPU backend needs on Linux (Level Zero and
# OpenCL GPUs: DRM render nodes; CUDA: /dev/nvidiaN; HIP: /dev/kfd).
_GPU_NODES = ("/dev/dri/renderD*", "/dev/nvidia[0-9]*", "/dev/kfd")


def gpu_nodes_present() -> bool:
    """Whether a SYCL GPU could exist here (always True off Linux, where there is no cheap test)."""
    if not sys.platform.startswith("linux"):
        return True
    return any(glob.glob(pattern) for pattern in _GPU_NODES)


def default_for_cpu_params() -> Optional[SyclDevice]:
    """The SYCL device the default policy picks for CPU parameters, or None for the fallback."""
    if not _loaded and not gpu_nodes_present():
        # Only a SYCL CPU device measured faster than the fallback could win, and the
        # measurements say which names could: without one, do not load the SYCL runtime
        # just to ask (it costs ~100 MiB of resident memory and start-up time).
        meas = load_measurements()
        if choose_default([(name, "cpu") for name in meas if name != "cpu"], meas) == "cpu":
            return None
    devs = sycl_devices()
    if not devs:
        return None
    name = choose_default([(d.name, _info[d.handle]["kind"]) for d in devs], load_measurements())
    return next((d for d in devs if d.name == name), None)


# ---- device memory in --------------------------------------------------------------------------

def owns_pointer(device: Any, ptr: int) -> bool:
    """Whether USM memory at ``ptr`` belongs to this SYCL device's context (ai3 reads it in place)."""
    return bool(load().is_device_pointer(device.handle, ptr))


# ---- warm-up ----------------------------------------------------------------------------------

def compile_bundles(device: Any, dtype: str) -> float:
    """Compile (or load from the persistent cache) every kernel bundle for a device; seconds spent."""
    mod = load()
    if mod is None:
        raise DeviceError(f"SYCL is unavailable: {_reason}")
    return sum(mod.compile(device.handle, b, dtype) for b in ("layers", "conv", "graph"))


def compile_stats() -> Tuple[int, float]:
    """(kernel bundles compiled by this process, seconds spent compiling)."""
    mod = load()
    return (0, 0.0) if mod is None else tuple(mod.compile_stats())


__all__ = ["prepare_environment", "load", "unavailable_reason", "sycl_devices", "resolve", "choose_default",
           "save_measurements", "load_measurements", "SyclDevice", "default_for_cpu_params", "compile_bundles", "info"]
