"""SYCL conv2d on a SYCL device (default: opencl:cpu) against torch on the CPU.

For each conv algorithm, over the 13 conv layers of VGG16 (batch 1, 224x224,
float32): torch time / ai3 time per layer, measured in this process with the two
interleaved (median of --repeats), torch on --threads threads; then the geometric
mean. ai3 runs each layer as a one-layer ai3.Model on the device (weights uploaded
once; the input copied in and the output out on every call, as a Model does).
Also the first-call time of one layer in a fresh process, cold (empty kernel
cache) and warm (libsycl's persistent cache filled by the cold run).

    python benchmarks/sycl_conv.py [--device opencl:cpu] [--algos direct,winograd] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

import ai3

VGG16 = [  # (C, K, H=W) of VGG16's 3x3 convs, padding 1
    (3, 64, 224), (64, 64, 224), (64, 128, 112), (128, 128, 112), (128, 256, 56), (256, 256, 56), (256, 256, 56),
    (256, 512, 28), (512, 512, 28), (512, 512, 28), (512, 512, 14), (512, 512, 14), (512, 512, 14),
]
ALGOS = ["direct", "smm", "gemm", "implicit gemm", "implicit precomp gemm", "winograd", "guess", "default"]


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_layer(c, k, hw, algo, device, repeats):
    torch.manual_seed(0)
    w = torch.randn(k, c, 3, 3) * (2.0 / (9 * c)) ** 0.5
    b = torch.randn(k)
    x = torch.randn(1, c, hw, hw)
    model = ai3.Model([ai3.layers.Conv2D(w, b, 1, 1, algorithm=algo)], device=device)
    expected = F.conv2d(x, w, b, padding=1)
    out = model(x)  # compile (first layer only), upload weights, resolve the algorithm
    err = ((out - expected).abs().max() / expected.abs().max()).item()
    torch_t, ai3_t = [], []
    for _ in range(repeats):
        torch_t.append(_time(lambda: F.conv2d(x, w, b, padding=1)))
        ai3_t.append(_time(lambda: model(x)))
    resolved = model.layers[0].resolved_algorithm
    return statistics.median(torch_t), statistics.median(ai3_t), err, resolved


_FIRST_CALL = """
import sys, time
t0 = time.perf_counter()
import torch, ai3
x = torch.randn(1, 64, 56, 56)
m = ai3.Model([ai3.layers.Conv2D(torch.randn(64, 64, 3, 3), None, 1, 1, algorithm=sys.argv[2])], device=sys.argv[1])
t1 = time.perf_counter()
m(x)
t2 = time.perf_counter()
m(x)
t3 = time.perf_counter()
print(t2 - t1, t3 - t2)
"""


def first_call(device, algo):
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SYCL_CACHE_DIR=cache, SYCL_CACHE_PERSISTENT="1", AI3_QUIET="1")
        out = []
        for _ in range(2):
            r = subprocess.run([sys.executable, "-c", _FIRST_CALL, device, algo], env=env, capture_output=True,
                               text=True, check=True)
            out.append([float(v) for v in r.stdout.split()])
    return out  # [[cold first, cold second], [warm first, warm second]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="opencl:cpu")
    ap.add_argument("--algos", default=",".join(ALGOS))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", default="", help="comma-separated layer indices (default: all 13)")
    ap.add_argument("--json", default="", help="also write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ai3.set_num_threads(args.threads)
    layers = [VGG16[int(i)] for i in args.layers.split(",")] if args.layers else VGG16
    device = args.device
    print(f"ai3 {ai3.__version__}, torch {torch.__version__}, {args.threads} threads, device {args.device}")
    results = {}
    for algo in args.algos.split(","):
        ratios = []
        for i, (c, k, hw) in enumerate(layers):
            t, a, err, resolved = bench_layer(c, k, hw, algo, device, args.repeats)
            ratios.append(t / a)
            gflop = 2 * c * k * 9 * hw * hw / 1e9
            print(f"  {algo:22s} layer {i:2d} C={c:3d} K={k:3d} {hw:3d}x{hw:<3d} torch {t * 1e3:8.2f} ms  "
                  f"ai3 {a * 1e3:8.2f} ms ({gflop / a:6.1f} GFLOP/s, {resolved})  torch/ai3 {t / a:5.2f}x  "
                  f"rel.err {err:.1e}", flush=True)
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        results[algo] = {"geomean": geo, "ratios": ratios}
        print(f"{algo:22s} geomean torch/ai3 = {geo:.2f}x over {len(ratios)} layers", flush=True)
    (cold, warm) = first_call(args.device, "default")
    print(f"first call (64->64, 56x56, default), fresh process: cold cache {cold[0]:.2f} s "
          f"(then {cold[1] * 1e3:.1f} ms), "
          f"warm cache {warm[0]:.2f} s (then {warm[1] * 1e3:.1f} ms)")
    results["first_call"] = {"cold": cold, "warm": warm}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
