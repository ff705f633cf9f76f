"""``python -m ai3 info``: what this build of ai3 has and where it can run.
``python -m ai3 bench``: ai3 against torch per conv layer and per model (see ai3.bench)."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys

import ai3

from . import bench
from .devices import _cuda_module, cuda_unusable_reason


def _sycl_runtime() -> str:
    """The SYCL runtime library loaded in this process, with its wheel's version when it has one."""
    lib = ai3._sycl_backend.load().runtime_library()
    try:
        version = importlib.metadata.version("intel-sycl-rt")
    except importlib.metadata.PackageNotFoundError:
        return lib or "unknown"
    return f"{lib or 'unknown'} (intel-sycl-rt {version})" if "libsycl" in lib else lib


def _summary() -> str:
    """One line: version, usable devices, CPU instruction set, threads, and why a built backend is idle."""
    devices = ", ".join(d.name for d in ai3.devices())
    idle = []
    for name, status in ai3.backend_status().items():
        if status.startswith("built") and not any(d.backend == name for d in ai3.devices()) and name != "cpu":
            idle.append(f"{name} built, no device")
        elif status.startswith("off") and name not in ("apple",):
            idle.append(f"{name} off")
    sycl_mode = f" (SYCL kernels {ai3._sycl_backend.load().mode()})" if ai3.using_sycl() else ""
    return (f"ai3 {ai3.__version__}: devices {devices}{sycl_mode}; CPU kernels {ai3._core.cpu_isa()}, "
            f"{ai3.get_num_threads()} threads" + (f"; {', '.join(idle)}" if idle else ""))


def _info(short: bool = False) -> int:
    if short:
        print(_summary())
        return 0
    info = ai3._core.build_info()
    print(f"ai3 {info['version']} (compiled by {info['compiler']})")
    print("backends:")
    for name, status in ai3.backend_status().items():
        print(f"  {name:6s} {status}")
    cuda_why = cuda_unusable_reason()
    if cuda_why and ai3.backend_status().get("cuda", "").startswith("built"):
        print(f"  cuda not usable: {cuda_why}")
    cuda_mod, _ = _cuda_module()
    if cuda_mod is not None:
        print("  cuda libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(cuda_mod.versions().items())))
    print("devices:", ", ".join(d.name for d in ai3.devices()))
    sycl_reason = ai3._sycl_backend.unavailable_reason()
    if sycl_reason:
        print(f"sycl devices: none: {sycl_reason}")
    else:
        print(f"sycl runtime: {_sycl_runtime()}")
        for d in ai3._sycl_backend.sycl_devices():
            i = ai3._sycl_backend.info(d)
            print(f"sycl device: {d.name} ({ai3._sycl.device_name(d.handle)}, "
                  f"{i.get('kind')}, fp64={'yes' if i.get('fp64') else 'no'}, kernels {ai3._sycl.mode()})")
    print(f"threads: {ai3.get_num_threads()}, CPU kernels: {ai3._core.cpu_isa()}")
    kernels: dict = {}
    for op, algo, backend, _dtype in ai3._core.registry_entries():
        kernels.setdefault((op, backend), set()).add(algo)
    print("kernels:")
    for (op, backend), algos in sorted(kernels.items()):
        print(f"  {op:18s} {backend:5s} {', '.join(sorted(algos))}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ai3", description=bench.plain(__doc__ or ""),
                                     formatter_class=bench.HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ip = sub.add_parser("info", help="print the build's backends, devices and kernels",
                        description="What this build of ai3 has and where it can run.",
                        formatter_class=bench.HelpFormatter)
    ip.add_argument("--short", action="store_true", help="one line: devices, CPU instruction set, threads")
    bp = sub.add_parser("bench", help="benchmark ai3 against torch per conv layer and per model",
                        description=bench.plain(bench.__doc__ or ""), formatter_class=bench.HelpFormatter)
    bench.add_arguments(bp)
    args = parser.parse_args(argv)
    if args.command == "info":
        return _info(args.short)
    if args.command == "bench":
        bench.run(args)
        return 0
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
