"""Whole-network error of swapped convolutions against a float64 reference.

For each network (random weights, eval mode, a fixed random input), runs torch in
float64 as the reference, then torch float32 and ai3's swap_conv2d float32 with each
algorithm choice, and prints the relative error max|y - ref| / max|ref| of the
network's output, the median over --seeds inputs (random networks like timm's
amplify rounding errors 100-10000x, so one input's max error is noisy), drawn from
--input (randn: N(0, 1); rand: U[0, 1), which such networks amplify far more).
Winograd's tile can be forced with AI3_WINOGRAD_TILE=2|4 (each choice runs in its own
subprocess so the setting applies from import).

    python benchmarks/winograd_error.py --models efficientnet_b0 resnet50 --algos default direct
    python benchmarks/winograd_error.py --timm efficientnetv2_rw_t --size 160
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Dict, List

TORCHVISION = ["efficientnet_b0", "resnet50", "densenet121", "convnext_tiny", "vgg16"]
TIMM = ["efficientnetv2_rw_t"]


def build(name: str, timm_model: bool):
    import torch

    torch.manual_seed(0)
    if timm_model:
        import timm

        return timm.create_model(name, pretrained=False).eval()
    import torchvision

    return getattr(torchvision.models, name)().eval()


def run_one(name: str, timm_model: bool, size: int, algo: str, seeds: int, dist: str) -> Dict[str, float]:
    """Errors of torch float32 and of ai3 with `algo`, relative to torch float64 (medians over inputs)."""
    import copy

    import torch

    import ai3

    torch.set_num_threads(2)
    net = build(name, timm_model)
    swapped = copy.deepcopy(net)
    ai3.swap_conv2d(swapped, algo if algo != "winograd-where-it-applies" else
                    (lambda m: "winograd" if m.kernel_size == (3, 3) and m.stride == (1, 1)
                     and m.dilation == (1, 1) else "direct"))
    ref_net = copy.deepcopy(net).double()
    errs: Dict[str, List[float]] = {"torch_f32": [], "ai3": [], "ai3_vs_torch_f32": []}
    with torch.no_grad():
        for seed in range(1, seeds + 1):
            gen = torch.Generator().manual_seed(seed)
            draw = torch.randn if dist == "randn" else torch.rand
            x = draw(1, 3, size, size, generator=gen)
            ref = ref_net(x.double())
            scale = ref.abs().max().item()
            t, y = net(x), swapped(x)
            errs["torch_f32"].append((t.double() - ref).abs().max().item() / scale)
            errs["ai3"].append((y.double() - ref).abs().max().item() / scale)
            errs["ai3_vs_torch_f32"].append((y - t).abs().max().item() / t.abs().max().item())
        out: Dict[str, float] = {k: statistics.median(v) for k, v in errs.items()}
        convs = [m for m in swapped.modules() if isinstance(m, ai3.Conv2d)]
        shapes = {}

        def hook(m, inp, _out):
            shapes[id(m)] = tuple(inp[0].shape)

        hs = [m.register_forward_hook(hook) for m in convs]
        swapped(x)
        for h in hs:
            h.remove()
        picked = [m.resolve_for(shapes[id(m)]) for m in convs if id(m) in shapes]
        out["winograd_layers"] = sum(a == "winograd" for a in picked)
        out["convs"] = len(picked)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=TORCHVISION, help="torchvision models")
    ap.add_argument("--timm", nargs="*", default=TIMM, help="timm models (needs timm)")
    ap.add_argument("--size", type=int, default=160, help="input height and width")
    ap.add_argument("--seeds", type=int, default=5, help="random inputs per network (medians are printed)")
    ap.add_argument("--algos", nargs="*", default=["default", "direct", "winograd-where-it-applies"])
    ap.add_argument("--tiles", nargs="*", default=["auto", "2", "4"],
                    help="AI3_WINOGRAD_TILE settings for the winograd choices ('auto': the kernel's rule)")
    ap.add_argument("--input", choices=["randn", "rand"], default="randn", help="input distribution")
    ap.add_argument("--one", nargs=6, metavar=("NAME", "TIMM", "SIZE", "ALGO", "SEEDS", "INPUT"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one[0], a.one[1] == "1", int(a.one[2]), a.one[3], int(a.one[4]), a.one[5])))
        return
    rows: List[tuple] = []
    for name, is_timm in [(m, False) for m in a.models] + [(m, True) for m in a.timm]:
        for algo in a.algos:
            for tile in (a.tiles if algo != "direct" else ["auto"]):
                env = dict(os.environ)
                env.pop("AI3_WINOGRAD_TILE", None)
                if tile != "auto":
                    env["AI3_WINOGRAD_TILE"] = tile
                one = [name, "1" if is_timm else "0", str(a.size), algo, str(a.seeds), a.input]
                r = subprocess.run([sys.executable, __file__, "--one", *one], capture_output=True, text=True, env=env)
                if r.returncode != 0:
                    print(f"{name} {algo} tile={tile}: failed: {r.stderr.strip().splitlines()[-1:]}")
                    continue
                res = json.loads(r.stdout.strip().splitlines()[-1])
                rows.append((name, algo, tile, res))
                print(f"{name:22s} {algo:26s} tile={tile:4s} ai3 {res['ai3']:.2e}  torch f32 {res['torch_f32']:.2e}  "
                      f"ai3 vs torch f32 {res['ai3_vs_torch_f32']:.2e}  winograd layers "
                      f"{res['winograd_layers']}/{res['convs']}", flush=True)


if __name__ == "__main__":
    main()
