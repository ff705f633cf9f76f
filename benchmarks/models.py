"""Whole-model benchmark: ``ai3.swap_backend`` against torch eager, and peak memory of both.

Latency: for each model (torchvision, random weights, eval mode) both run in this
process on the same input, in alternating rounds (torch, then ai3), with torch and ai3
on the same number of threads; the result is the median time of each and the ratio
torch time / ai3 time (above 1 means ai3 is faster).

Memory: each (model, framework) runs in its own subprocess. After the model is built
(and, for ai3, the torch module it was swapped from is deleted) the process resets its
RSS high-water mark (``/proc/self/clear_refs``) and runs inference; the reported peak is
``VmHWM`` from ``/proc/self/status``: resident memory including the weights, the
activations and every allocator (tracemalloc would miss C++ memory).

    python benchmarks/models.py                         # vgg16, resnet50, mobilenet_v2; 224x224, batch 1, 2 threads
    python benchmarks/models.py --models resnet18 --size 128 --repeats 5 --no-memory
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Tuple

import torch
import torchvision


def make(name: str) -> torch.nn.Module:
    kw = {"aux_logits": False, "init_weights": True} if name in ("googlenet", "inception_v3") else {}
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None, **kw).eval()


def status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(name: str, framework: str, size: int, batch: int, threads: int, runs: int) -> None:
    """Runs in a subprocess: prints JSON with the RSS before inference and the peak during it."""
    torch.set_num_threads(threads)
    import ai3

    ai3.set_num_threads(threads)
    x = torch.randn(batch, 3, size, size)
    model = make(name)
    if framework == "ai3":
        runner = ai3.swap_backend(model, sample_input_shape=tuple(x.shape))
        del model
        gc.collect()
    else:
        runner = model
    # Both sides alike: hand heap memory freed during set-up (for ai3, torch's copy of the
    # weights, dropped above) back to the OS before measuring, so neither is charged for
    # memory the C library has freed but not yet returned. (ai3.Model does this itself when
    # it plans its buffers, but that is after this reset.)
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = status_kib("VmRSS")
    with torch.no_grad():
        for _ in range(runs):
            runner(x)
    print(json.dumps({"rss_before_kib": before, "peak_kib": status_kib("VmHWM")}))


def measure_memory(name: str, framework: str, args: argparse.Namespace) -> Dict[str, int]:
    cmd = [sys.executable, __file__, "--memory-child", name, framework, "--size", str(args.size), "--batch",
           str(args.batch), "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_once(fn, x: torch.Tensor) -> float:
    t = time.perf_counter()
    fn(x)
    return time.perf_counter() - t


def measure_latency(name: str, args: argparse.Namespace) -> Tuple[float, float, float, float]:
    import ai3

    x = torch.randn(args.batch, 3, args.size, args.size)
    model = make(name)
    fast = ai3.swap_backend(model, sample_input_shape=tuple(x.shape))
    with torch.no_grad():
        expected = model(x)
        got = fast(x)
        rel = ((got.double() - expected.double()).abs().max() / expected.abs().max()).item()
        for _ in range(args.warmup):
            model(x)
            fast(x)
        t_torch: List[float] = []
        t_ai3: List[float] = []
        for _ in range(args.repeats):
            t_torch.append(time_once(model, x))
            t_ai3.append(time_once(fast, x))
    # Per-round ratios pair each ai3 run with the torch run just before it, so a change in
    # the machine's load between rounds (shared CI machines) affects both sides alike.
    paired = statistics.median(t / a for t, a in zip(t_torch, t_ai3))
    return statistics.median(t_torch), statistics.median(t_ai3), paired, rel


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["vgg16", "resnet50", "mobilenet_v2"])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--memory-child", nargs=2, metavar=("MODEL", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child, args.size, args.batch, args.threads, runs=3)
        return

    import ai3

    torch.set_num_threads(args.threads)
    ai3.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, ai3 {ai3.__version__} ({ai3._core.cpu_isa()}), {args.threads} threads, "
          f"batch {args.batch}, {args.size}x{args.size}")
    print(f"{'model':<16}{'torch ms':>10}{'ai3 ms':>10}{'torch/ai3':>11}{'paired':>9}{'rel err':>10}"
          f"{'torch peak MiB':>16}{'ai3 peak MiB':>14}")
    results = []
    for name in args.models:
        tt, ta, paired, rel = measure_latency(name, args)
        row = {"model": name, "torch_s": tt, "ai3_s": ta, "ratio": tt / ta, "paired_ratio": paired, "rel_err": rel}
        mem = ""
        if not args.no_memory:
            mt, ma = measure_memory(name, "torch", args), measure_memory(name, "ai3", args)
            row.update({"torch_mem": mt, "ai3_mem": ma})
            mem = f"{mt['peak_kib'] / 1024:>16.0f}{ma['peak_kib'] / 1024:>14.0f}"
        results.append(row)
        print(f"{name:<16}{tt * 1e3:>10.1f}{ta * 1e3:>10.1f}{tt / ta:>10.2f}x{paired:>8.2f}x{rel:>10.1e}{mem}",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
