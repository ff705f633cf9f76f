"""Type stubs for ai3._sycl, the SYCL backend's extension module (see ai3._sycl_backend)."""

from typing import Any, List, Tuple

def mode() -> str:
    """'rtc' (kernels compiled at run time by the SYCL run-time compiler) or 'aot'."""
def runtime_library() -> str:
    """Path of the SYCL runtime library (libsycl, libacpp-rt) loaded in this process, or ''."""
def handle_for(device_or_queue: Any) -> int:
    """ai3's queue (an opaque handle) for a dpctl.SyclDevice or dpctl.SyclQueue."""
def device_name(handle: int) -> str: ...
def has_fp64(handle: int) -> bool: ...
def is_device_pointer(handle: int, pointer: int) -> bool:
    """Whether ``pointer`` is USM memory of this device's context."""
def compile(handle: int, bundle: str, dtype: str) -> float:
    """Compile a kernel bundle ('layers', 'conv' or 'graph') for a dtype now; seconds spent (0 if cached)."""
def launch_count() -> int:
    """SYCL kernel launches by ai3 so far in this process."""
def build_source(handle: int, source: str, kernel_names: List[str]) -> None:
    """Compile SYCL source for a device the way ai3 compiles its kernels (errors carry the compiler's output)."""
def compile_stats() -> Tuple[int, float]:
    """(kernel bundles compiled by this process, seconds spent)."""
def shutdown() -> None:
    """Release every SYCL object (registered with atexit by ai3)."""
