"""Per-layer conv2d benchmark: every ai3 algorithm against torch, layer by layer.

For each conv layer of a torchvision model (random weights) at its real input
shape, times torch's F.conv2d and ai3's operator (what a swapped nn.Conv2d runs)
in one process, in alternating blocks of calls (median of --repeats rounds), with
torch and ai3 on the same number of threads. Prints torch time / ai3 time per layer and algorithm
(above 1 means ai3 is faster) and the geometric mean; --json writes everything.

    python benchmarks/conv_layers.py --model vgg16 --batch 1
    python benchmarks/conv_layers.py --model resnet50 --algorithms direct smm --dtype float64

This is the raw-operator variant (ai3.ops.conv2d, --backward, --tune) of
`python -m ai3 bench --layers`, which times swapped modules on any device.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
from typing import Dict, List

import torch
import torch.nn.functional as F

import ai3
from ai3 import bench
from ai3._convert import conv_padding
from ai3.bench import compare, make_model
from ai3.ops import conv2d as ai3_conv2d


def conv_layers(model_name: str, batch: int, size: int):
    model = make_model(model_name)
    return model, bench.conv_layers(model, (batch, 3, size, size))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="vgg16")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--algorithms", nargs="+", default=None, help="default: every implemented one + guess/default")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="default: torch.get_num_threads()")
    p.add_argument("--unique", action="store_true", help="benchmark each distinct layer shape once")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--backward", action="store_true",
                   help="time the backward (grad of input, weight and bias) instead of the forward")
    p.add_argument("--tune", action="store_true",
                   help="also run ai3.tune on the model (not saved) and compare its picks with guess's")
    args = p.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    ai3.set_num_threads(torch.get_num_threads())
    dtype = getattr(torch, args.dtype)
    algorithms = args.algorithms or sorted(
        {a for op, a, b, d in ai3._core.registry_entries() if op == "conv2d" and b == "cpu" and d == args.dtype}
    ) + ["guess", "default"]
    torch.manual_seed(0)
    model, layers = conv_layers(args.model, args.batch, args.size)
    if args.unique:
        seen, kept = set(), []
        for name, m, s in layers:
            key = (tuple(m.weight.shape), m.stride, m.padding, m.dilation, m.groups, s)
            if key not in seen:
                seen.add(key)
                kept.append((name, m, s))
        layers = kept
    tuned = None
    if args.tune:
        tuned = ai3.tune(model.to(dtype), (args.batch, 3, args.size, args.size), repeats=args.repeats, save=False,
                         progress=False)

    print(f"{args.model} conv layers, batch {args.batch}, {args.dtype}, {torch.get_num_threads()} threads "
          f"(torch {torch.__version__}, ai3 {ai3.__version__}, {platform.processor() or platform.machine()})")
    header = (f"{'#':>3} {'layer (C->K, k, s, HxW)':<28} {'torch ms':>9} "
              + " ".join(f"{a[:12]:>12}" for a in algorithms))
    print(header)
    rows: List[Dict] = []
    ratios: Dict[str, List[float]] = {a: [] for a in algorithms}
    with torch.inference_mode(mode=not args.backward):
        for i, (name, m, shape) in enumerate(layers):
            x = torch.randn(shape, dtype=dtype)
            w = m.weight.detach().to(dtype)
            b = None if m.bias is None else m.bias.detach().to(dtype)
            pads = list(conv_padding(m.padding, m.kernel_size, m.dilation, m.stride))

            def run_torch():
                return F.conv2d(x, w, b, m.stride, m.padding, m.dilation, m.groups)

            if args.backward:
                # Time torch.autograd.grad over a graph built once (retain_graph): the backward alone.
                xg, wg = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
                bg = None if b is None else b.clone().requires_grad_(True)
                leaves = [t for t in (xg, wg, bg) if t is not None]
                with torch.enable_grad():
                    out_t = F.conv2d(xg, wg, bg, m.stride, m.padding, m.dilation, m.groups)
                gout = torch.randn_like(out_t)

                def run_torch():  # noqa: F811 - the backward variant
                    return torch.autograd.grad(out_t, leaves, gout, retain_graph=True)[1]

            ref = run_torch()
            fwd_numel = F.conv2d(x[:1], w, None, m.stride, m.padding, m.dilation, m.groups).numel() * x.shape[0]
            row = {"layer": i, "name": name, "in_shape": list(shape), "weight": list(w.shape), "stride": list(m.stride),
                   "groups": m.groups, "algorithms": {}}
            cells = []
            t_torch_all = []
            for algo in algorithms:
                def run_ai3(algo=algo):
                    return ai3_conv2d(x, w, b, list(m.stride), pads, list(m.dilation), m.groups, "zeros", algo)

                if args.backward:
                    try:
                        with torch.enable_grad():
                            out_a = ai3_conv2d(xg, wg, bg, list(m.stride), pads, list(m.dilation), m.groups,
                                               "zeros", algo)
                    except NotImplementedError as e:
                        cells.append(f"{'n/a':>12}")
                        row["algorithms"][algo] = {"error": str(e)}
                        continue

                    def run_ai3(out_a=out_a):  # noqa: F811 - the backward variant
                        return torch.autograd.grad(out_a, leaves, gout, retain_graph=True)[1]

                try:
                    out = run_ai3()  # warm: resolve, build the kernel
                except NotImplementedError as e:
                    cells.append(f"{'n/a':>12}")
                    row["algorithms"][algo] = {"error": str(e)}
                    continue
                if args.backward:
                    out = run_ai3()  # compare what is timed: the weight gradient
                err = ((out - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()
                tt, ta = compare(run_torch, run_ai3, args.repeats)
                t_torch_all.append(tt)
                ratios[algo].append(tt / ta)
                # forward: 2 FLOPs per multiply-add; backward: grad_input and grad_weight, twice that
                flops = 2 * fwd_numel * w[0].numel() * (2 if args.backward else 1)
                resolved = ai3.ops.conv_layer_for(w.shape, b is not None, m.stride, pads, m.dilation, m.groups,
                                                  "zeros", algo).resolve_for(list(shape), args.dtype)
                row["algorithms"][algo] = {"torch_s": tt, "ai3_s": ta, "speedup": tt / ta, "rel_error": err,
                                           "ai3_gflops": flops / ta / 1e9, "resolved": resolved}
                cells.append(f"{tt / ta:>11.2f}x")
            row["torch_s"] = statistics.median(t_torch_all) if t_torch_all else None
            rows.append(row)
            desc = f"{shape[1]}->{w.shape[0]}, {w.shape[2]}x{w.shape[3]}, s{m.stride[0]}, {shape[2]}x{shape[3]}"
            t_ms = f"{row['torch_s'] * 1e3:9.2f}" if row["torch_s"] else f"{'-':>9}"
            print(f"{i:>3} {desc:<28} {t_ms} " + " ".join(cells), flush=True)

    geo = {a: math.exp(sum(map(math.log, r)) / len(r)) for a, r in ratios.items() if r}
    print(f"{'':>3} {'geomean torch/ai3':<28} {'':>9} " +
          " ".join(f"{geo[a]:>11.2f}x" if a in geo else f"{'n/a':>12}" for a in algorithms))
    if "guess" in algorithms:
        picks = [r["algorithms"].get("guess", {}).get("resolved", "?") for r in rows]
        print("guess picked:      ", ", ".join(picks))
    if tuned is not None:
        tpicks = [tuned.get(r["name"], "?") for r in rows]
        for r, t in zip(rows, tpicks):
            r["tuned"] = t
        print("ai3.tune picked:   ", ", ".join(tpicks))
        if "guess" in algorithms:
            same = sum(g == t for g, t in zip(picks, tpicks))
            print(f"guess matched the tuned winner on {same}/{len(rows)} layers")
            slow = [r["algorithms"][r["tuned"]]["ai3_s"] / r["algorithms"]["guess"]["ai3_s"] for r in rows
                    if r["tuned"] in r["algorithms"] and "ai3_s" in r["algorithms"].get(r["tuned"], {})]
            if slow:
                print(f"guess's layers run at {sum(slow) / len(slow):.2f}x the tuned winner's speed on average")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "threads": torch.get_num_threads(), "rows": rows, "geomean": geo}, f,
                      indent=1)


if __name__ == "__main__":
    main()
