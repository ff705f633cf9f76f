"""ai3 demo: swap a torchvision VGG16 (random weights) and compare with torch.

For each conv2d algorithm this CPU build implements, it runs the network
(1) with ai3.swap_conv2d (convolutions swapped in place, the rest still torch) and
(2) as an ai3.Model from ai3.swap_backend (every layer run by ai3), and prints the
max error against torch and the time of each, measured in the same process,
interleaved with torch, median of several runs.

    python examples/demo.py [--batch 1] [--size 224] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torchvision

import ai3


def timed(fn, x, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(x)
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    print(f"ai3 {ai3.__version__}, torch {torch.__version__}, {ai3.get_num_threads()} threads, "
          f"devices: {', '.join(d.name for d in ai3.devices())}")
    vgg = torchvision.models.vgg16(weights=None).eval()
    x = torch.randn(args.batch, 3, args.size, args.size)
    algorithms = sorted({a for op, a, b, _ in ai3._core.registry_entries() if op == "conv2d" and b == "cpu"})
    algorithms += ["guess", "default"]

    with torch.inference_mode():
        vgg(x)  # warm-up
        ref, t_torch = timed(vgg, x, args.repeats)
    scale = ref.abs().max().item()
    print(f"\nVGG16, input {tuple(x.shape)}: torch {t_torch * 1e3:.0f} ms\n")
    print(f"{'algorithm':<22} {'how':<13} {'rel. error':>11} {'ai3 ms':>8} {'torch ms':>9} {'torch/ai3':>10}")
    for algo in algorithms:
        swapped = copy.deepcopy(vgg)  # outside inference_mode: its weights stay ordinary tensors
        ai3.swap_conv2d(swapped, algo)
        model = ai3.swap_backend(vgg, {"conv2d": algo})
        with torch.inference_mode():
            for how, fn in (("swap_conv2d", swapped), ("swap_backend", model)):
                fn(x)  # first call resolves algorithms and plans buffers
                _, t_ref = timed(vgg, x, args.repeats)
                out, t = timed(fn, x, args.repeats)
                err = (out - ref).abs().max().item() / scale
                print(f"{algo:<22} {how:<13} {err:>11.2e} {t * 1e3:>8.0f} {t_ref * 1e3:>9.0f} {t_ref / t:>9.2f}x")
    convs = [m for m in model.layers if isinstance(m, ai3.layers.Conv2D)]
    print("\n'default' resolved per conv layer:", ", ".join(c.resolved_algorithm or "?" for c in convs))


if __name__ == "__main__":
    main()
