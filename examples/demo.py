"""ai3 demo: swap a torchvision VGG16 (random weights) and compare with torch.

For each conv2d algorithm this build implements on the CPU, it runs the network
(1) with ai3.swap_conv2d (convolutions swapped in place, the rest still torch) and
(2) as an ai3.Model from ai3.swap_backend (every layer run by ai3), and prints the
error against torch and the speed of each. Timings alternate torch and ai3 call by
call in this one process, so a machine that speeds up or slows down affects both;
the ratio is torch time / ai3 time (above 1: ai3 is faster), the median over the
rounds with its lowest and highest round beside it.

    python examples/demo.py [--batch 1] [--size 224] [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from typing import Callable, List, Tuple

import torch
import torchvision

import ai3


def interleaved(run_torch: Callable[[], torch.Tensor], run_ai3: Callable[[], torch.Tensor],
                rounds: int) -> Tuple[List[float], List[float]]:
    """Seconds per call of torch and ai3, alternating one call of each per round."""
    t_torch, t_ai3 = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        run_torch()
        t1 = time.perf_counter()
        run_ai3()
        t2 = time.perf_counter()
        t_torch.append(t1 - t0)
        t_ai3.append(t2 - t1)
    return t_torch, t_ai3


def tuned_layers(model: ai3.Model) -> int:
    """How many of the model's `default` convolutions ran a winner measured by ai3.tune."""
    n = 0
    for layer in model.layers:
        if isinstance(layer, ai3.layers.Conv2D):
            n += any(ai3._core.tuned(layer._core.tune_key(list(shape), dtype, model.device.core)) is not None
                     for tag, shape, dtype, _ in layer._core.resolutions() if tag.startswith("conv2d"))
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per row")
    args = parser.parse_args()

    torch.manual_seed(0)
    print(f"ai3 {ai3.__version__}, torch {torch.__version__}: {ai3.get_num_threads()} threads for both, "
          f"ai3's CPU kernels use {ai3._core.cpu_isa()}")
    vgg = torchvision.models.vgg16(weights=None).eval()
    x = torch.randn(args.batch, 3, args.size, args.size)
    algorithms = sorted({a for op, a, b, _ in ai3._core.registry_entries() if op == "conv2d" and b == "cpu"})
    algorithms += ["guess", "default"]
    with torch.inference_mode():
        ref = vgg(x)
        for _ in range(2):  # a fresh process's first calls also fault in memory and warm caches
            vgg(x)
    scale = ref.abs().max().item()

    print(f"\nVGG16, input {tuple(x.shape)}, {args.repeats} rounds per row, torch and ai3 alternating.")
    print("rel. error: max |ai3 - torch| / max |torch|.  torch/ai3: above 1 means ai3 is faster.\n")
    print(f"{'algorithm':<22} {'how':<13} {'rel. error':>10} {'ai3 ms':>8} {'torch ms':>9} "
          f"{'torch/ai3':>10}  {'(lowest-highest round)':<22}")
    best = ("", "", 0.0)
    torch_spread = []
    model = None
    for algo in algorithms:
        swapped = copy.deepcopy(vgg)  # outside inference_mode: its weights stay ordinary tensors
        ai3.swap_conv2d(swapped, algo)
        model = ai3.swap_backend(vgg, {"conv2d": algo})
        with torch.inference_mode():
            for how, fn in (("swap_conv2d", swapped), ("swap_backend", model)):
                out = fn(x)  # the first call picks algorithms, plans buffers, transforms filters
                err = (out - ref).abs().max().item() / scale
                t_torch, t_ai3 = interleaved(lambda: vgg(x), lambda: fn(x), args.repeats)
                ratios = sorted(t / a for t, a in zip(t_torch, t_ai3))
                ratio = statistics.median(ratios)
                torch_spread.append(max(t_torch) / min(t_torch))
                print(f"{algo:<22} {how:<13} {err:>10.1e} {statistics.median(t_ai3) * 1e3:>8.0f} "
                      f"{statistics.median(t_torch) * 1e3:>9.0f} {ratio:>9.2f}x  ({ratios[0]:.2f}-{ratios[-1]:.2f})",
                      flush=True)
                if ratio > best[2]:
                    best = (algo, how, ratio)

    assert model is not None
    convs = [m for m in model.layers if isinstance(m, ai3.layers.Conv2D)]
    n_tuned = tuned_layers(model)
    print(f"\n'default' ran, per conv layer: {', '.join(c.resolved_algorithm or '?' for c in convs)}")
    if n_tuned:
        print(f"  ({n_tuned} of {len(convs)} layers ran winners that ai3.tune measured on this machine, the rest "
              f"what guess picks)")
    else:
        print("  (no ai3.tune results on this machine yet, so 'default' is 'guess': its cost model's picks)")
    if max(torch_spread) > 1.25:
        print(f"\nNote: torch's own time varied up to {max(torch_spread):.1f}x between rounds of a row: another "
              f"program is using the CPU, or it is still warming up. Each round times torch and ai3 back to back, "
              f"so the ratios stay comparable; the milliseconds do not.")
    algo, how, ratio = best
    print(f"\nFastest here: {how} with {algo!r}, {ratio:.2f}x torch. To let ai3 pick per layer on your own model, "
          f"run ai3.tune(model, sample_input) once: 'default' then runs each layer's measured winner.")


if __name__ == "__main__":
    main()
