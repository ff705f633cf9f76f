"""CUDA benchmark: every cuDNN algorithm through ai3 against torch's F.conv2d on the same GPU.

Per conv layer of VGG16 and ResNet-50 (random weights, real input shapes) at each batch
size, times ai3's operator (what a swapped nn.Conv2d runs: CUDA tensors, torch's stream,
no copies) and torch's F.conv2d in one process, in alternating blocks (median of
--repeats rounds, each block ends with a synchronize). Prints torch time / ai3 time
(above 1: ai3 faster) and the geometric mean per algorithm.

What torch runs is set to match where its cudnn settings allow: ai3's `guess` (cuDNN's
heuristic) against torch with cudnn.benchmark=False (torch's heuristic), ai3's
`default` (cudnnFind, cached) against torch with cudnn.benchmark=True (measured,
cached); torch has no switch for one named algorithm, so `gemm`, `implicit gemm`,
`implicit precomp gemm` and `winograd` are compared with torch's heuristic choice.
TF32 is off on both sides unless --tf32 (then AI3_CUDA_TF32=1 must be set too).

Then whole models: swap_backend (an ai3.Model) and swap_conv2d against torch eager.

    python benchmarks/cuda_conv.py                       # vgg16 + resnet50, batch 1 and 32
    python benchmarks/cuda_conv.py --models vgg16 --batches 1 --algorithms guess default --json out.json
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn.functional as F

import ai3
from ai3._convert import conv_padding
from ai3._shapes import record_input_shapes
from ai3.ops import conv2d as ai3_conv2d

CUDNN_ALGORITHMS = ["gemm", "implicit gemm", "implicit precomp gemm", "winograd", "guess", "default"]
OWN_ALGORITHMS = ["direct", "smm"]


def need_gpu() -> None:
    """Exit with a clear message (status 1) where ai3 or torch cannot use a CUDA GPU."""
    from ai3.devices import cuda_unusable_reason

    why = cuda_unusable_reason()
    if not why and not torch.cuda.is_available():
        why = "torch.cuda.is_available() is False (torch is not a CUDA build, or sees no GPU)"
    if why:
        sys.exit(f"{os.path.basename(sys.argv[0])} needs a CUDA GPU usable by ai3 and torch: {why}")


def timed_block(fn: Callable[[], object], calls: int) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / calls


def compare(run_torch, run_ai3, rounds: int, min_block_s: float = 0.05) -> Tuple[float, float]:
    """Median per-call seconds of torch and ai3, in alternating synchronized blocks."""
    for _ in range(3):  # warm-up: cudnn plans, Find, workspace growth, weight caches
        run_torch()
        run_ai3()
    one = min(timed_block(run_torch, 1), timed_block(run_ai3, 1))
    calls = max(1, int(min_block_s / max(1e-6, one)))
    t_t, t_a = [], []
    for _ in range(rounds):
        t_t.append(timed_block(run_torch, calls))
        t_a.append(timed_block(run_ai3, calls))
    return statistics.median(t_t), statistics.median(t_a)


def conv_layers(model_name: str, batch: int, size: int):
    import torchvision

    model = getattr(torchvision.models, model_name)(weights=None).eval()
    order, shapes = record_input_shapes(model, (batch, 3, size, size), lambda m: type(m) is torch.nn.Conv2d)
    names = {id(m): n for n, m in model.named_modules()}
    seen, out = set(), []
    for m in order:  # each distinct layer shape once
        key = (tuple(m.weight.shape), m.stride, m.padding, m.dilation, m.groups, tuple(shapes[id(m)]))
        if key not in seen:
            seen.add(key)
            out.append((names[id(m)], m, shapes[id(m)]))
    return out


def bench_layers(args) -> List[Dict]:
    rows = []
    dtype = getattr(torch, args.dtype)
    for model_name in args.models:
        for batch in args.batches:
            layers = conv_layers(model_name, batch, args.size)
            print(f"\n== {model_name}, batch {batch}, {args.dtype}: torch time / ai3 time per layer")
            print(f"{'layer':24s} " + " ".join(f"{a:>12s}" for a in args.algorithms))
            ratios: Dict[str, List[float]] = {a: [] for a in args.algorithms}
            for name, m, shape in layers:
                m = m.to("cuda", dtype)
                x = torch.randn(shape, device="cuda", dtype=dtype)
                pads = list(conv_padding(m.padding, m.kernel_size, m.dilation, m.stride))
                cells = []
                for algo in args.algorithms:
                    torch.backends.cudnn.benchmark = algo == "default"

                    def run_torch():
                        return F.conv2d(x, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups)

                    def run_ai3():
                        return ai3_conv2d(x, m.weight, m.bias, list(m.stride), pads, list(m.dilation), m.groups,
                                          "zeros", algo)

                    try:
                        with torch.no_grad():
                            t_torch, t_ai3 = compare(run_torch, run_ai3, args.repeats)
                    except ai3.UnsupportedError as e:
                        cells.append("refused")
                        rows.append(dict(model=model_name, batch=batch, layer=name, algorithm=algo,
                                         refused=str(e)))
                        continue
                    ratio = t_torch / t_ai3
                    ratios[algo].append(ratio)
                    cells.append(f"{ratio:12.2f}")
                    rows.append(dict(model=model_name, batch=batch, layer=name, algorithm=algo, shape=list(shape),
                                     torch_s=t_torch, ai3_s=t_ai3, ratio=ratio))
                print(f"{name:24s} " + " ".join(f"{c:>12s}" for c in cells), flush=True)
            geo = [f"{math.exp(statistics.fmean(map(math.log, r))):12.2f}" if r else f"{'-':>12s}"
                   for r in ratios.values()]
            print(f"{'geomean':24s} " + " ".join(geo))
    torch.backends.cudnn.benchmark = False
    return rows


def bench_models(args) -> List[Dict]:
    import torchvision

    rows = []
    dtype = getattr(torch, args.dtype)
    print(f"\n== whole models ({args.dtype}): torch eager time / ai3 time")
    for model_name in args.models:
        net = getattr(torchvision.models, model_name)(weights=None).eval().to("cuda", dtype)
        for batch in args.batches:
            x = torch.randn(batch, 3, args.size, args.size, device="cuda", dtype=dtype)
            for how in ("swap_backend", "swap_conv2d"):
                torch.backends.cudnn.benchmark = False
                try:
                    if how == "swap_backend":
                        fast = ai3.swap_backend(net, {"conv2d": args.model_algorithm})
                    else:
                        fast = copy.deepcopy(net)
                        ai3.swap_conv2d(fast, args.model_algorithm)
                except ai3.UnsupportedError as e:
                    print(f"{model_name:10s} batch {batch:3d} {how:12s} not supported: {e}")
                    rows.append(dict(model=model_name, batch=batch, how=how, unsupported=str(e)))
                    continue
                with torch.no_grad():
                    t_torch, t_ai3 = compare(lambda: net(x), lambda: fast(x), args.repeats)
                print(f"{model_name:10s} batch {batch:3d} {how:12s} torch {t_torch * 1e3:8.2f} ms  "
                      f"ai3 {t_ai3 * 1e3:8.2f} ms  ratio {t_torch / t_ai3:5.2f}", flush=True)
                rows.append(dict(model=model_name, batch=batch, how=how, torch_s=t_torch, ai3_s=t_ai3,
                                 ratio=t_torch / t_ai3))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["vgg16", "resnet50"])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--algorithms", nargs="+", default=CUDNN_ALGORITHMS,
                   help=f"conv algorithms per layer (also: {', '.join(OWN_ALGORITHMS)})")
    p.add_argument("--model-algorithm", default="default", help="the conv algorithm of the whole-model runs")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--tf32", action="store_true", help="let torch use TF32 (set AI3_CUDA_TF32=1 for ai3 too)")
    p.add_argument("--skip-layers", action="store_true")
    p.add_argument("--skip-models", action="store_true")
    p.add_argument("--json", default=None, help="write every measurement here")
    args = p.parse_args()
    for a in args.algorithms + [args.model_algorithm]:
        try:
            ai3.algorithms.check_algorithm("conv2d", a)
        except ai3.Ai3Error as e:
            p.error(str(e))
    need_gpu()

    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    print(f"GPU: {torch.cuda.get_device_name()} | torch {torch.__version__} (cuDNN {torch.backends.cudnn.version()})"
          f" | ai3 {ai3.__version__}: {ai3.backend_status()['cuda']}")
    result = dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, dtype=args.dtype, tf32=args.tf32)
    if not args.skip_layers:
        result["layers"] = bench_layers(args)
    if not args.skip_models:
        result["models"] = bench_models(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
