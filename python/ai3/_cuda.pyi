"""Type stubs for ai3._cuda, the CUDA backend (cuDNN/cuBLAS and ai3's own CUDA kernels).

Importing it registers its kernels (backend ``"cuda"``) into ``ai3._core``'s registry;
that needs the CUDA/cuDNN/cuBLAS libraries but no GPU.
"""

from typing import Dict

def unusable_reason() -> str:
    """Why no CUDA GPU is usable (no driver, no device, ...), or '' when one is."""
def device_count() -> int:
    """Number of CUDA GPUs; raises ai3.errors.BackendError saying why there are none."""
def device_name(index: int) -> str: ...
def context(index: int, stream: int = 0) -> int:
    """The device handle (an ai3 context pointer) for (GPU index, cudaStream_t as an int)."""
def versions() -> Dict[str, str]:
    """cuDNN (built/loaded), cuBLAS, CUDA runtime (built/loaded) and driver versions."""
def _raise_status(library: str, code: int) -> None:
    """Raise what a failing call of ``library`` ("cuda", "cudnn", "cublas") with status ``code`` raises."""
