"""Where ai3 runs: resolving ``device=`` arguments once, in Python.

The portable CPU fallback is always there; SYCL devices come from dpctl when
ai3 is built with SYCL (``ai3._sycl_backend``); the CUDA backend (``ai3._cuda``) is
imported lazily when a CUDA device is asked for or listed. Build status per
backend: :func:`backend_status`; why CUDA is unusable: :func:`cuda_unusable_reason`. A device that is not
available raises :class:`~ai3.errors.DeviceError` listing the devices that are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from . import _core, _sycl_backend
from .errors import DeviceError


@dataclass(frozen=True)
class Device:
    """A resolved device: the backend that runs it, its display name, and for
    device backends the index and the opaque handle (a ``sycl::queue*``, a CUDA
    device ordinal's context, ...) that the backend module owns."""

    backend: str
    name: str
    index: int = 0
    handle: int = 0

    @property
    def core(self) -> Any:
        """The device as ``ai3._core`` takes it: ``"cpu"`` or ``(backend, index, handle)``.

        A CUDA device's handle is ai3's context for torch's *current* stream on that
        GPU, looked up at each call, so ai3's kernels queue behind torch's own work.
        """
        if self.backend == "cpu":
            return "cpu"
        if self.backend == "cuda":
            return ("cuda", self.index, cuda_handle(self.index))
        return (self.backend, self.index, self.handle)

    @property
    def key(self) -> str:
        """The device as one string, for torch ops' schemas: ``"cpu"``, ``"cuda:N"`` (its handle
        follows torch's current stream, so it is looked up per call) or ``"backend:index:handle"``."""
        if self.backend == "cpu":
            return "cpu"
        if self.backend == "cuda":
            return f"cuda:{self.index}"
        return f"{self.backend}:{self.index}:{self.handle}"

    def __str__(self) -> str:
        return self.name


CPU = Device("cpu", "cpu")


def backend_status() -> Dict[str, str]:
    """Each backend's build status: ``"built ..."`` or ``"off: <reason>"``."""
    return dict(_core.build_info()["backends"])


def devices() -> List[Device]:
    """The devices this installation of ai3 can run on, in order of preference."""
    return [CPU] + _cuda_devices() + [_sycl(r) for r in _sycl_backend.sycl_devices()]


# ---- CUDA ------------------------------------------------------------------------------

_cuda_state: Optional[Tuple[Any, str]] = None


def _cuda_module() -> Tuple[Any, str]:
    """``(ai3._cuda, "")`` when the CUDA backend is built and loads, else ``(None, why not)``.

    Imported on first use only, so a machine without CUDA libraries never pays for it.
    """
    global _cuda_state
    if _cuda_state is None:
        status = backend_status().get("cuda", "unknown")
        if not status.startswith("built"):
            _cuda_state = (None, f"ai3's cuda backend is {status}")
        else:
            try:
                from . import _cuda  # registers the CUDA kernels into ai3._core's registry

                _cuda_state = (_cuda, "")
            except ImportError as e:
                _cuda_state = (None, f"ai3._cuda is built but does not load: {e}")
    return _cuda_state


def cuda_unusable_reason() -> str:
    """Why ai3 cannot run on a CUDA GPU here (not built, libraries, driver, no GPU), or ``""``."""
    mod, why = _cuda_module()
    if mod is None:
        return why
    return str(mod.unusable_reason())


def _cuda_devices() -> List[Device]:
    if cuda_unusable_reason():
        return []
    mod, _ = _cuda_module()
    return [Device("cuda", f"cuda:{i}", i) for i in range(mod.device_count())]


def cuda_handle(index: int) -> int:
    """ai3's CUDA context for torch's current stream on GPU ``index`` (legacy default stream without torch CUDA)."""
    mod, why = _cuda_module()
    if mod is None:
        raise DeviceError(f"device 'cuda:{index}' needs ai3's CUDA backend: {why}")
    stream = 0
    try:
        import torch

        if torch.cuda.is_available():
            stream = int(torch.cuda.current_stream(index).cuda_stream)
    except (ImportError, RuntimeError, AssertionError):  # a torch without CUDA: ai3's own default stream
        stream = 0
    return int(mod.context(index, stream))


def _cuda_device(what: str, spec: str) -> Device:
    index = 0
    if spec != "cuda":
        try:
            index = int(spec.split(":", 1)[1])
        except ValueError:
            usable = ", ".join(repr(d.name) for d in devices())
            raise DeviceError(f"device {what} is not a CUDA device name; use 'cuda' or 'cuda:N'. "
                              f"Usable devices: {usable}") from None
    reason = cuda_unusable_reason()
    if reason:
        usable = ", ".join(repr(d.name) for d in devices())
        raise DeviceError(f"device {what} is not usable: {reason}. Usable devices: {usable}")
    found = _cuda_devices()
    if not 0 <= index < len(found):
        usable = ", ".join(repr(d.name) for d in devices())
        raise DeviceError(f"device {what} does not exist. Usable devices: {usable}")
    return found[index]


def _unavailable(what: str, backend: str) -> DeviceError:
    status = backend_status().get(backend, "unknown")
    usable = ", ".join(repr(d.name) for d in devices())
    return DeviceError(f"device {what} needs ai3's {backend} backend, which is {status}. Usable devices: {usable}")


def resolve_device(device: Any = None, *, follow: Optional[Any] = None) -> Device:
    """Resolve a user's ``device=`` argument.

    ``None`` means ``$AI3_DEVICE`` if set, else follow ``follow`` (a torch
    device of the module's parameters); ``"cpu"`` is the portable fallback;
    ``"cuda"``/``"cuda:N"``/``torch.device("cuda")`` the cuDNN path; ``"sycl"``,
    dpctl filter strings, ``dpctl.SyclDevice``/``SyclQueue`` the SYCL path.
    """
    if isinstance(device, Device):
        return device
    if device is None:
        env = os.environ.get("AI3_DEVICE")
        if env:
            return resolve_device(env)
        if follow is None:
            return CPU
        if str(follow) == "cpu":  # CPU parameters: a SYCL GPU, else the measured faster CPU path
            r = _sycl_backend.default_for_cpu_params()
            return _sycl(r) if r is not None else CPU
        device = follow
    type_name = type(device).__name__
    if type_name in ("SyclDevice", "SyclQueue"):
        return _resolve_sycl(device)
    if not isinstance(device, str):
        try:
            import torch

            if isinstance(device, torch.device):
                device = str(device)
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
    if not isinstance(device, str):
        raise DeviceError(f"device must be None, a string, a torch.device or a dpctl device/queue, got {type_name}")
    d = device.strip().lower()
    if d == "cpu":
        return CPU
    if d == "cuda" or d.startswith("cuda:"):
        return _cuda_device(repr(device), d)
    if d in ("mps", "metal"):
        return _fail(device, "apple")
    # Everything else is a SYCL device: "sycl" or a dpctl filter selector string.
    return _resolve_sycl(device)


def _sycl(r: _sycl_backend.SyclDevice) -> Device:
    return Device("sycl", r.name, r.index, r.handle)


def _resolve_sycl(spec: Any) -> Device:
    try:
        return _sycl(_sycl_backend.resolve(spec))
    except DeviceError as e:
        raise DeviceError(f"{e}. Usable devices: {', '.join(repr(d.name) for d in devices())}") from None


def from_key(key: str) -> Any:
    """``Device.key`` back to what ``ai3._core`` takes (``"cpu"`` or ``(backend, index, handle)``)."""
    if key == "cpu":
        return "cpu"
    if key.startswith("cuda:"):
        index = int(key.split(":", 1)[1])
        return ("cuda", index, cuda_handle(index))
    backend, ordinal, handle = key.split(":")
    return (backend, int(ordinal), int(handle))


def _fail(device: str, backend: str) -> Device:
    raise _unavailable(repr(device), backend)
