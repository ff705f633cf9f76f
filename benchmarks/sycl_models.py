"""Whole-model latency of swap_backend on a SYCL device (default: opencl:cpu) against torch CPU eager.

For each model (default: resnet50 and mobilenet_v2; torchvision, random weights, eval mode,
batch 1, 224x224, float32): ai3.swap_backend(model, device=DEVICE) runs the whole network on
the device (input copied in, output copied out on every call, activations in device memory
between layers); torch runs eager on --threads threads. The two are interleaved in this
process, --repeats times after --warmup calls each, and the medians give torch time / ai3
time; the ratio of the minima is printed too, as the steadier figure on a shared, loaded
machine (another process taking a core slows torch's threads far more than ai3's).
Accuracy: max abs error / max abs output against torch on the same input.

    python benchmarks/sycl_models.py [--device opencl:cpu] [--models resnet50,mobilenet_v2] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
import torchvision

import ai3


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_model(name: str, device: str, size: int, repeats: int, warmup: int) -> dict:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    # Non-trivial BatchNorm statistics, so the output depends on the input and folding is exercised.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(1, 3, size, size)
    t0 = time.perf_counter()
    fast = ai3.swap_backend(model, sample_input_shape=(1, 3, size, size), device=device)
    swap_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = fast(x)  # kernels compiled or loaded from cache, weights uploaded, buffers planned
    first_s = time.perf_counter() - t0
    with torch.no_grad():
        expected = model(x)
        err = ((out.double() - expected.double()).abs().max() / expected.abs().max()).item()
        for _ in range(warmup):
            model(x)
            fast(x)
        torch_t, ai3_t = [], []
        for _ in range(repeats):
            torch_t.append(_time(lambda: model(x)))
            ai3_t.append(_time(lambda: fast(x)))
    t, a = statistics.median(torch_t), statistics.median(ai3_t)
    return {"torch_s": t, "ai3_s": a, "ratio": t / a, "ratio_min": min(torch_t) / min(ai3_t), "rel_err": err,
            "swap_s": swap_s, "first_call_s": first_s, "torch_all": torch_t, "ai3_all": ai3_t}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="opencl:cpu")
    ap.add_argument("--models", default="resnet50,mobilenet_v2")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="", help="also write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ai3.set_num_threads(args.threads)
    print(f"ai3 {ai3.__version__}, torch {torch.__version__}, torch on {args.threads} threads, "
          f"ai3 on {args.device}, batch 1, {args.size}x{args.size}, float32, median of {args.repeats}")
    results = {}
    for name in args.models.split(","):
        r = bench_model(name, args.device, args.size, args.repeats, args.warmup)
        results[name] = r
        print(f"{name:16s} torch {r['torch_s'] * 1e3:8.1f} ms  ai3 {r['ai3_s'] * 1e3:8.1f} ms  "
              f"torch/ai3 {r['ratio']:5.2f}x (minima {r['ratio_min']:5.2f}x)  rel.err {r['rel_err']:.1e}  "
              f"(swap {r['swap_s']:.2f} s, "
              f"first call {r['first_call_s']:.2f} s)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
