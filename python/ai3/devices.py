"""Where ai3 runs: resolving ``device=`` arguments once, in Python.

The portable CPU fallback is always there; SYCL devices come from dpctl when
ai3 is built with SYCL (``ai3._sycl_backend``); :func:`backend_status` reports
each backend. A device that is not
available raises :class:`~ai3.errors.DeviceError` listing the devices that are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from . import _core
from . import _sycl_backend
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
        """The device as ``ai3._core`` takes it: ``"cpu"`` or ``(backend, index, handle)``."""
        if self.backend == "cpu":
            return "cpu"
        return (self.backend, self.index, self.handle)

    @property
    def key(self) -> str:
        """The device as one string (``"cpu"`` or ``"backend:index:handle"``), for torch ops' schemas."""
        return "cpu" if self.backend == "cpu" else f"{self.backend}:{self.index}:{self.handle}"

    def __str__(self) -> str:
        return self.name


CPU = Device("cpu", "cpu")


def backend_status() -> Dict[str, str]:
    """Each backend's build status: ``"built ..."`` or ``"off: <reason>"``."""
    return dict(_core.build_info()["backends"])


def devices() -> List[Device]:
    """The devices this installation of ai3 can run on, in order of preference."""
    return [CPU] + list(_sycl_backend.sycl_devices())


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
            return _sycl_backend.default_for_cpu_params() or CPU
        device = follow
    type_name = type(device).__name__
    if type_name in ("SyclDevice", "SyclQueue"):
        return _sycl_backend.resolve(device)
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
        return _fail(device, "cuda")
    if d in ("mps", "metal"):
        return _fail(device, "apple")
    # Everything else is a SYCL device: "sycl" or a dpctl filter selector string.
    return _sycl_backend.resolve(device)


def from_key(key: str) -> Any:
    """``Device.key`` back to what ``ai3._core`` takes (``"cpu"`` or ``(backend, index, handle)``)."""
    if key == "cpu":
        return "cpu"
    backend, index, handle = key.split(":")
    return (backend, int(index), int(handle))


def _fail(device: str, backend: str) -> Device:
    raise _unavailable(repr(device), backend)
