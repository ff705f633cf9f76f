"""CUDA whole-model check: ai3.swap_backend on "cuda" against torch eager on the same GPU.

For each torchvision model (random weights with non-trivial BatchNorm statistics, no
download) and batch size, builds ``ai3.swap_backend(net, device="cuda")`` -- the graph
form: convolutions with BatchNorm folded, residual adds, SE gates, concatenations,
channel shuffles, LayerNorms, every op on ai3's CUDA kernels -- then

* accuracy: max |ai3 - torch| / max |torch| on one input (the test suite's network
  tolerance is 1e-4 in float32, 1e-10 in float64); TF32 is off on both sides unless
  --tf32 (then set AI3_CUDA_TF32=1 for ai3 too);
* latency: torch eager and the ai3 Model, CUDA tensor in and CUDA tensor out, in
  alternating synchronized blocks in one process (median of --repeats rounds); prints
  torch time / ai3 time (above 1: ai3 faster).

A model whose graph still needs torch for some node (unsupported="torch") is reported with
those nodes' names; none of the default models should need it. Prints a table and, with
--json, writes every measurement.

    python benchmarks/cuda_models.py                                  # resnet50 mobilenet_v2 vgg16, batch 1
    python benchmarks/cuda_models.py --models resnet18 convnext_tiny --batches 1 8 --json out.json
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from typing import Dict, List

import torch

# The same GPU check and interleaved timing as the per-layer benchmark (run from benchmarks/).
from cuda_conv import compare, need_gpu  # noqa: E402

import ai3

DEFAULT_MODELS = ["resnet50", "mobilenet_v2", "vgg16"]
# torchvision constructors that need arguments to build without pretrained weights.
MODEL_KW = {"googlenet": {"aux_logits": False, "init_weights": True},
            "inception_v3": {"aux_logits": False, "init_weights": True}}


def make_model(name: str, dtype: torch.dtype) -> torch.nn.Module:
    """A torchvision model with random weights and BatchNorm statistics that are not the identity."""
    import torchvision

    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(weights=None, **MODEL_KW.get(name, {}))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net.eval().to("cuda", dtype)


def bench(args) -> List[Dict]:
    rows = []
    dtype = getattr(torch, args.dtype)
    print(f"\n== swap_backend on cuda vs torch eager ({args.dtype}, {args.size}x{args.size}, conv2d "
          f"'{args.algorithm}')")
    head = f"{'model':20s} {'batch':>5s} {'torch ms':>9s} {'ai3 ms':>9s} {'ratio':>6s} {'rel err':>9s}  layers"
    print(head)
    print("-" * len(head))
    for name in args.models:
        net = make_model(name, dtype)
        for batch in args.batches:
            row: Dict = dict(model=name, batch=batch, dtype=args.dtype, algorithm=args.algorithm)
            x = torch.randn(batch, 3, args.size, args.size, device="cuda", dtype=dtype,
                            generator=torch.Generator("cuda").manual_seed(batch))
            try:
                fast = ai3.swap_backend(net, {"conv2d": args.algorithm}, device="cuda", unsupported="torch",
                                        sample_input_shape=(batch, 3, args.size, args.size))
            except ai3.Ai3Error as e:
                print(f"{name:20s} {batch:5d} could not be swapped: {type(e).__name__}: {e}", flush=True)
                rows.append(dict(row, error=f"{type(e).__name__}: {e}"))
                continue
            ops = collections.Counter(layer.op for layer in fast.layers)
            torch_nodes = [layer.name for layer in fast.layers if layer.op == "torch"]
            with torch.no_grad():
                expected = net(x)
                try:
                    got = fast(x)
                except ai3.Ai3Error as e:
                    print(f"{name:20s} {batch:5d} failed to run: {type(e).__name__}: {e}", flush=True)
                    rows.append(dict(row, error=f"{type(e).__name__}: {e}"))
                    continue
                rel = float((got - expected).abs().max() / expected.abs().max().clamp_min(1e-30))
                t_torch, t_ai3 = compare(lambda: net(x), lambda: fast(x), args.repeats)
            tol = 1e-4 if dtype == torch.float32 else 1e-10
            flag = "" if rel <= tol else "  ABOVE TOLERANCE"
            print(f"{name:20s} {batch:5d} {t_torch * 1e3:9.3f} {t_ai3 * 1e3:9.3f} {t_torch / t_ai3:6.2f} "
                  f"{rel:9.2e}  {len(fast.layers)} ({', '.join(f'{k} {v}' for k, v in sorted(ops.items()))})"
                  f"{flag}", flush=True)
            if torch_nodes:
                print(f"{'':20s} run by torch: {', '.join(torch_nodes)}")
            rows.append(dict(row, torch_s=t_torch, ai3_s=t_ai3, ratio=t_torch / t_ai3, rel_err=rel,
                             within_tolerance=rel <= tol, ops=dict(ops), torch_nodes=torch_nodes))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="torchvision model names")
    p.add_argument("--batches", nargs="+", type=int, default=[1])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--algorithm", default="default", help="the conv2d algorithm of the swapped models")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--tf32", action="store_true", help="let torch use TF32 (set AI3_CUDA_TF32=1 for ai3 too)")
    p.add_argument("--json", default=None, help="write every measurement here")
    args = p.parse_args()
    try:
        ai3.algorithms.check_algorithm("conv2d", args.algorithm)
    except ai3.Ai3Error as e:
        p.error(str(e))
    import torchvision

    unknown = [m for m in args.models if not callable(getattr(torchvision.models, m, None))]
    if unknown:
        p.error(f"unknown torchvision model(s): {', '.join(unknown)}")
    if any(b < 1 for b in args.batches) or args.size < 1 or args.repeats < 1:
        p.error("--batches, --size and --repeats must be positive")
    need_gpu()

    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = False
    print(f"GPU: {torch.cuda.get_device_name()} | torch {torch.__version__} (cuDNN {torch.backends.cudnn.version()})"
          f" | ai3 {ai3.__version__}: {ai3.backend_status()['cuda']}")
    result = dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, dtype=args.dtype, tf32=args.tf32,
                  size=args.size, models=bench(args))
    bad = [r["model"] for r in result["models"] if "error" in r or not r.get("within_tolerance", False)]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if bad:
        print(f"\nNOT OK: {', '.join(sorted(set(bad)))} failed or missed the tolerance", file=sys.stderr)
        sys.exit(3)
    print("\nall models within tolerance")


if __name__ == "__main__":
    main()
