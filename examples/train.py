"""Train a small CNN on synthetic data with and without ai3 and plot both loss curves.

Both runs start from the same weights and see the same batches; the ai3 run swaps
every convolution (forward and backward run ai3 kernels) with the chosen algorithm.

    python examples/train.py [--algorithm default] [--steps 100] [--out train_loss.png]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F
from torch import nn

import ai3


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1, groups=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )


def synthetic_batches(steps: int, batch: int, seed: int = 0):
    """A learnable task: the class is which of 10 fixed blocky colour patterns was added to the noise."""
    g = torch.Generator().manual_seed(seed)
    patterns = F.interpolate(torch.randn(10, 3, 4, 4, generator=g), size=(32, 32), mode="nearest")
    for _ in range(steps):
        y = torch.randint(0, 10, (batch,), generator=g)
        yield patterns[y] + 1.0 * torch.randn(batch, 3, 32, 32, generator=g), y


def train(model: nn.Module, steps: int, batch: int):
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    losses, t0 = [], time.perf_counter()
    for x, y in synthetic_batches(steps, batch):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algorithm", default="default")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--out", default="train_loss.png")
    args = p.parse_args()

    torch.manual_seed(0)
    ref = make_model()
    swapped = copy.deepcopy(ref)
    ai3.swap_conv2d(swapped, args.algorithm)
    torch_losses, t_torch = train(ref, args.steps, args.batch)
    ai3_losses, t_ai3 = train(swapped, args.steps, args.batch)
    diff = max(abs(a - b) for a, b in zip(torch_losses, ai3_losses))
    print(f"torch: final loss {torch_losses[-1]:.4f} in {t_torch:.1f} s")
    print(f"ai3 ({args.algorithm}): final loss {ai3_losses[-1]:.4f} in {t_ai3:.1f} s")
    print(f"max |loss difference| over {args.steps} steps: {diff:.2e}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(torch_losses, label=f"torch ({t_torch:.1f} s)")
    ax.plot(ai3_losses, "--", label=f"ai3 '{args.algorithm}' ({t_ai3:.1f} s)")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title("Small CNN on synthetic data: torch vs ai3")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
