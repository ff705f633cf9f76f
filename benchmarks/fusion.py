"""What the CPU fallback's epilogue fusion buys a whole ai3.Model.

For each torchvision model (random weights, eval mode) and batch size, three Models built by
``ai3.swap_backend`` from the same network run interleaved in one process:

* ``fused``: the defaults (a conv's epilogue applies the ReLU/ReLU6 after it and, under
  winograd, a following MaxPool2d(2, 2));
* ``no pool fusion``: the same with ``maxpool2d`` asked to run ``direct`` (so it runs alone);
* ``no fusion``: also ``relu``/``relu6`` asked to run ``direct``.

Printed: median ms of each and the speed-up of ``fused`` over the others, plus the largest
difference between their outputs (fusion changes no arithmetic: expect 0).

    python benchmarks/fusion.py [--models vgg16 mobilenet_v2] [--batch 1 8] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision

import ai3

VARIANTS = {
    "fused": {},
    "no pool fusion": {"maxpool2d": "direct"},
    "no fusion": {"maxpool2d": "direct", "relu": "direct", "relu6": "direct"},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["vgg16", "mobilenet_v2"])
    p.add_argument("--batch", nargs="+", type=int, default=[1, 8])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ai3.set_num_threads(args.threads)
    print(f"ai3 {ai3.__version__} ({ai3._core.cpu_isa()}), torch {torch.__version__}, {args.threads} threads, "
          f"{args.size}x{args.size}, float32; median of {args.repeats}")
    for name in args.models:
        net = getattr(torchvision.models, name)().eval()
        for b in args.batch:
            x = torch.randn(b, 3, args.size, args.size)
            models = {k: ai3.swap_backend(net, sel, sample_input_shape=tuple(x.shape)) for k, sel in VARIANTS.items()}
            outs = {k: m(x) for k, m in models.items()}  # also plans buffers and builds kernels
            times = {k: [] for k in models}
            for _ in range(args.repeats):
                for k, m in models.items():
                    t = time.perf_counter()
                    m(x)
                    times[k].append(time.perf_counter() - t)
            med = {k: statistics.median(v) for k, v in times.items()}
            diff = max((outs[k] - outs["fused"]).abs().max().item() for k in outs)
            fused_layers = sum(layer.resolved_algorithm == "fused" for layer in models["fused"].layers)
            print(f"{name:14s} b{b:<3d} " + "  ".join(f"{k} {v * 1e3:8.1f} ms" for k, v in med.items()) +
                  f"  | fused vs no pool fusion {med['no pool fusion'] / med['fused']:.2f}x, "
                  f"vs no fusion {med['no fusion'] / med['fused']:.2f}x  ({fused_layers} layers fused, "
                  f"max diff {diff:.1e})")


if __name__ == "__main__":
    main()
