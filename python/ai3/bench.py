"""``python -m ai3 bench`` (also ``ai3-bench``): ai3 against torch, per layer and per model.

Per layer: every conv layer of each chosen torchvision model (random weights) at
its real input shape, as a swapped ``nn.Conv2d`` (what ``swap_conv2d`` runs) on
each chosen algorithm and device, against the same ``nn.Conv2d`` in torch.
Whole model: ``swap_backend`` (an ``ai3.Model``) and ``swap_conv2d`` against
torch eager, and with ``--peers`` ONNX Runtime and OpenVINO against ``swap_backend``
(peer time / ai3 time). Both are measured in one process, in alternating blocks of calls
(median of ``--repeats`` rounds), with torch and ai3 on the same number of
threads; the number reported is torch time / ai3 time (above 1: ai3 is faster).

    python -m ai3 bench --models vgg16 --batch 1 8 --json out.json --plot out.png
    python -m ai3 bench --models resnet50 --layers --unique --algorithms guess winograd
    python -m ai3 bench --models vgg16 resnet50 mobilenet_v2 --whole
    python -m ai3 bench --models resnet50 --whole --peers onnxruntime openvino
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import re
import statistics
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import nn

import ai3

from ._shapes import record_input_shapes
from .devices import resolve_device

Timer = Callable[[], Any]


def block_time(fn: Timer, calls: int) -> float:
    """Mean seconds per call of ``fn`` over ``calls`` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def compare(run_torch: Timer, run_ai3: Timer, rounds: int, min_block_s: float = 0.03) -> Tuple[float, float]:
    """Median per-call seconds of torch and ai3, measured in alternating blocks.

    Each round times a block of calls of each (enough calls to last
    ``min_block_s``), so one slow call moves a block average a little instead of
    a single sample a lot, and alternating blocks make drift hit both sides.
    """
    for _ in range(2):  # warm-up: kernel caches, filter transforms, page faults
        run_torch()
        run_ai3()
    calls = max(1, int(min_block_s / max(1e-6, min(block_time(run_torch, 1), block_time(run_ai3, 1)))))
    t_t, t_a = [], []
    for _ in range(rounds):
        t_t.append(block_time(run_torch, calls))
        t_a.append(block_time(run_ai3, calls))
    return statistics.median(t_t), statistics.median(t_a)


def rel_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """max |out - ref| / max |ref|: the suite's whole-network accuracy measure."""
    out, ref = out.detach().cpu().double(), ref.detach().cpu().double()
    return ((out - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def geomean(xs: Iterable[float]) -> float:
    xs = list(xs)
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


def make_model(name: str) -> nn.Module:
    """A torchvision classifier with random weights, in eval mode."""
    import torchvision

    kwargs: Dict[str, Any] = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=True)
    return getattr(torchvision.models, name)(**kwargs).eval()


def conv_layers(model: nn.Module, input_shape: Sequence[int]) -> List[Tuple[str, nn.Conv2d, Tuple[int, ...]]]:
    """(name, module, input shape) of each nn.Conv2d in call order."""
    order, shapes = record_input_shapes(model, tuple(input_shape), lambda m: type(m) is nn.Conv2d)
    names = {id(m): n for n, m in model.named_modules()}
    return [(names[id(m)], m, shapes[id(m)]) for m in order]


def _layer_key(m: nn.Conv2d, shape: Sequence[int]) -> tuple:
    return (tuple(m.weight.shape), m.stride, m.padding, m.dilation, m.groups, tuple(shape))


def _describe(m: nn.Conv2d, shape: Sequence[int]) -> str:
    g = f" g{m.groups}" if m.groups > 1 else ""
    return (f"{shape[1]}->{m.out_channels} {m.kernel_size[0]}x{m.kernel_size[1]} s{m.stride[0]}{g} "
            f"{shape[2]}x{shape[3]}")


def conv_algorithms(dtype: str, backend: str = "cpu") -> List[str]:
    """The concrete conv2d algorithms registered for a backend, then guess and default."""
    found = {a for op, a, b, d in ai3._core.registry_entries() if op == "conv2d" and b == backend and d == dtype}
    return sorted(found - {"guess", "default"}) + ["guess", "default"]


def _device_backend(device: str) -> str:
    return resolve_device(device).backend


def _torch_device(device: str) -> torch.device:
    """Where torch's reference runs: the GPU for ai3's CUDA path, else the CPU."""
    return torch.device("cuda") if _device_backend(device) == "cuda" else torch.device("cpu")


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _synced(fn: Timer, dev: torch.device) -> Timer:
    if dev.type != "cuda":
        return fn

    def run() -> Any:
        out = fn()
        torch.cuda.synchronize()
        return out

    return run


class _Progress:
    """A tqdm bar when wanted and available; rows print above it."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="run", leave=False, dynamic_ncols=True)
            except ImportError:  # pragma: no cover - tqdm is a dependency
                pass

    def step(self, desc: str) -> None:
        if self.bar is not None:
            self.bar.set_description(desc[:40])
            self.bar.update(1)

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def bench_layers(model_name: str, batch: int, size: int, dtype: torch.dtype, algorithms: Sequence[str],
                 device: str, repeats: int, unique: bool, progress: _Progress) -> Dict[str, Any]:
    """Per-layer results for one (model, batch, device)."""
    tdev = _torch_device(device)
    torch.manual_seed(0)
    model = make_model(model_name)
    layers = conv_layers(model, (batch, 3, size, size))
    if unique:
        seen, kept = set(), []
        for name, m, s in layers:
            if _layer_key(m, s) not in seen:
                seen.add(_layer_key(m, s))
                kept.append((name, m, s))
        layers = kept
    dname = str(dtype).replace("torch.", "")
    rows = []
    for i, (name, m, shape) in enumerate(layers):
        ref_conv = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                             m.groups, m.bias is not None, m.padding_mode).to(device=tdev, dtype=dtype)
        ref_conv.load_state_dict(m.state_dict())
        x = torch.randn(shape, dtype=dtype, device=tdev)
        row: Dict[str, Any] = {"layer": i, "name": name, "desc": _describe(m, shape), "in_shape": list(shape),
                               "weight": list(m.weight.shape), "stride": list(m.stride), "groups": m.groups,
                               "flops": 2 * ref_conv(x[:1]).numel() * batch * m.weight[0].numel(), "algorithms": {}}
        with torch.inference_mode():
            run_torch = _synced(lambda: ref_conv(x), tdev)
            ref = run_torch()
            torch_times = []
            for algo in algorithms:
                progress.step(f"{model_name} b{batch} L{i} {algo}")
                mod = nn.Sequential(copy.deepcopy(ref_conv))
                try:
                    ai3.swap_conv2d(mod, algo, device=device)
                    run_ai3 = _synced(lambda mod=mod: mod(x), tdev)  # type: ignore[misc]
                    out = run_ai3()
                except (NotImplementedError, ValueError, RuntimeError) as e:
                    row["algorithms"][algo] = {"error": f"{type(e).__name__}: {e}".splitlines()[0]}
                    continue
                tt, ta = compare(run_torch, run_ai3, repeats)
                torch_times.append(tt)
                row["algorithms"][algo] = {
                    "torch_s": tt, "ai3_s": ta, "speedup": tt / ta, "rel_error": rel_error(out, ref),
                    "ai3_gflops": row["flops"] / ta / 1e9, "torch_gflops": row["flops"] / tt / 1e9,
                    "resolved": getattr(mod[0], "resolved_algorithm", None) or algo,
                }
        row["torch_s"] = statistics.median(torch_times) if torch_times else None
        rows.append(row)
        cells = " ".join(f"{_cell(row['algorithms'].get(a)):>9}" for a in algorithms)
        t_ms = f"{row['torch_s'] * 1e3:9.2f}" if row["torch_s"] else f"{'-':>9}"
        progress.write(f"{i:>3} {row['desc']:<30} {t_ms} {cells}")
    geo = {a: geomean(r["algorithms"][a]["speedup"] for r in rows if "speedup" in r["algorithms"].get(a, {}))
           for a in algorithms}
    return {"model": model_name, "batch": batch, "size": size, "dtype": dname, "device": device, "rows": rows,
            "geomean": geo}


def _cell(r: Optional[Dict[str, Any]]) -> str:
    if not r or "speedup" not in r:
        return "n/a"
    return f"{r['speedup']:.2f}x"


PEERS = ("onnxruntime", "openvino")


def peer_runner(peer: str, model: nn.Module, x: torch.Tensor, threads: int) -> Timer:
    """A CPU inference engine running ``model`` on ``x`` with ``threads`` threads: ONNX Runtime
    on the ONNX file torch's exporter writes (all graph optimisations), or OpenVINO on the model
    converted from torch (latency hint). Raises ImportError when the engine is not installed."""
    if peer == "onnxruntime":
        import onnxruntime as ort

        proto = torch.onnx.export(model, (x,), dynamo=True, verbose=False).model_proto.SerializeToString()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Its idle threads would otherwise spin on the cores the interleaved ai3 call needs.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(proto, opts, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x.numpy()}
        return lambda: session.run(None, feed)[0]
    if peer == "openvino":
        import warnings

        import openvino as ov

        with warnings.catch_warnings():  # its converter traces with torch.jit, which warns of its deprecation
            warnings.simplefilter("ignore", FutureWarning)
            ov_model = ov.convert_model(model, example_input=x)
        compiled = ov.Core().compile_model(ov_model, "CPU",
                                           {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        xn = x.numpy()
        return lambda: request.infer({0: xn})[compiled.output(0)]
    raise ValueError(f"unknown peer {peer!r}: one of {', '.join(PEERS)}")


def bench_whole(model_name: str, batch: int, size: int, dtype: torch.dtype, device: str, repeats: int,
                progress: _Progress, peers: Sequence[str] = ()) -> List[Dict[str, Any]]:
    """Whole-model results for one (model, batch, device): swap_backend and swap_conv2d vs torch
    eager, then each peer engine against swap_backend (``speedup`` = peer time / ai3 time)."""
    tdev = _torch_device(device)
    torch.manual_seed(0)
    model = make_model(model_name).to(device=tdev, dtype=dtype)
    x = torch.randn(batch, 3, size, size, dtype=dtype, device=tdev)
    out = []
    backend: Optional[Timer] = None
    with torch.inference_mode():
        run_torch = _synced(lambda: model(x), tdev)
        ref = run_torch()
        for mode in ("swap_backend", "swap_conv2d", *peers):
            progress.step(f"{model_name} b{batch} {mode}")
            entry: Dict[str, Any] = {"model": model_name, "batch": batch, "size": size,
                                     "dtype": str(dtype).replace("torch.", ""), "device": device, "mode": mode}
            try:
                if mode == "swap_backend":
                    am = ai3.swap_backend(model, sample_input_shape=tuple(x.shape), device=device)
                    run_ai3 = backend = _synced(lambda: am(x), tdev)
                elif mode == "swap_conv2d":
                    sm = copy.deepcopy(model)
                    ai3.swap_conv2d(sm, device=device)
                    run_ai3 = _synced(lambda: sm(x), tdev)
                else:
                    if backend is None:
                        raise RuntimeError("swap_backend did not run, so there is nothing to compare with")
                    with torch.inference_mode(False):
                        run_peer = peer_runner(mode, model, x, torch.get_num_threads())
                res = run_ai3() if mode in ("swap_backend", "swap_conv2d") else run_peer()
            except (ImportError, NotImplementedError, ValueError, RuntimeError, TypeError) as e:
                entry["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
                progress.write(f"    {model_name:<16} b{batch:<3} {mode:<13} n/a ({entry['error'][:90]})")
                out.append(entry)
                continue
            res = torch.as_tensor(res)
            if mode in ("swap_backend", "swap_conv2d"):
                tt, ta = compare(run_torch, run_ai3, repeats, min_block_s=0.2)
                entry.update(torch_s=tt, ai3_s=ta, speedup=tt / ta, rel_error=rel_error(res, ref))
                progress.write(f"    {model_name:<16} b{batch:<3} {mode:<13} torch {tt * 1e3:8.2f} ms  ai3 "
                               f"{ta * 1e3:8.2f} ms  {tt / ta:5.2f}x  err {entry['rel_error']:.1e}")
            else:
                assert backend is not None
                tp, ta = compare(run_peer, backend, repeats, min_block_s=0.2)
                entry.update(peer_s=tp, ai3_s=ta, speedup=tp / ta, rel_error=rel_error(res, ref))
                progress.write(f"    {model_name:<16} b{batch:<3} {mode:<13} peer  {tp * 1e3:8.2f} ms  ai3 "
                               f"{ta * 1e3:8.2f} ms  {tp / ta:5.2f}x  err {entry['rel_error']:.1e} "
                               f"(peer time / swap_backend time)")
            out.append(entry)
    return out


def plot(results: Dict[str, Any], path: str) -> None:
    """One panel per (model, batch, device): speedup per layer, a bar per algorithm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = results["layers"]
    if not panels:
        raise ValueError("nothing to plot: run with per-layer benchmarks (--layers)")
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8, 0.9 * max(len(p["rows"]) for p in panels) + 3),
                                                      3.6 * len(panels)), squeeze=False)
    for ax, p in zip(axes[:, 0], panels):
        algos = [a for a in results["algorithms"] if any("speedup" in r["algorithms"].get(a, {}) for r in p["rows"])]
        width = 0.8 / max(1, len(algos))
        for j, a in enumerate(algos):
            xs = [i + (j - (len(algos) - 1) / 2) * width for i in range(len(p["rows"]))]
            ys = [r["algorithms"].get(a, {}).get("speedup", 0.0) for r in p["rows"]]
            ax.bar(xs, ys, width, label=f"{a} ({p['geomean'][a]:.2f}x)")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(p["rows"])))
        ax.set_xticklabels([r["desc"] for r in p["rows"]], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("torch time / ai3 time")
        ax.set_title(f"{p['model']} conv layers, batch {p['batch']}, {p['dtype']}, {p['device']}, "
                     f"{results['threads']} threads")
        ax.legend(fontsize=7, ncol=min(4, len(algos)))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _machine() -> Dict[str, Any]:
    return {"processor": platform.processor() or platform.machine(), "isa": ai3._core.cpu_isa(),
            "torch": torch.__version__, "ai3": ai3.__version__, "python": platform.python_version()}


def run(args: argparse.Namespace) -> Dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    ai3.set_num_threads(torch.get_num_threads())
    dtype = getattr(torch, args.dtype)
    do_layers = args.layers or not args.whole
    do_whole = args.whole or not args.layers
    algorithms = args.algorithms or conv_algorithms(args.dtype, _device_backend(args.devices[0]))
    results: Dict[str, Any] = {"machine": _machine(), "threads": torch.get_num_threads(), "args": vars(args),
                               "algorithms": algorithms, "layers": [], "whole": []}
    m = results["machine"]
    print(f"ai3 {m['ai3']} vs torch {m['torch']}: {m['processor']} ({m['isa']}), {results['threads']} threads, "
          f"{args.dtype}, {args.size}x{args.size}; numbers are torch time / ai3 time")
    total = 0
    if do_layers:
        total += sum(len(conv_layers(make_model(n), (1, 3, args.size, args.size))) for n in args.models) \
            * len(args.batch) * len(args.devices) * len(algorithms)
    if do_whole:
        total += len(args.models) * len(args.batch) * len(args.devices) * (2 + len(args.peers))
    progress = _Progress(total, not args.no_progress)
    try:
        for device in args.devices:
            for model_name in args.models:
                for batch in args.batch:
                    if do_layers:
                        progress.write(f"\n{model_name} conv layers, batch {batch}, device {device}")
                        progress.write(f"{'#':>3} {'layer (C->K k s HxW)':<30} {'torch ms':>9} "
                                       + " ".join(f"{_short(a):>9}" for a in algorithms))
                        r = bench_layers(model_name, batch, args.size, dtype, algorithms, device, args.repeats,
                                         args.unique, progress)
                        progress.write(f"{'':>3} {'geomean':<30} {'':>9} "
                                       + " ".join(f"{r['geomean'][a]:>8.2f}x" if not math.isnan(r["geomean"][a])
                                                  else f"{'n/a':>9}" for a in algorithms))
                        results["layers"].append(r)
                    if do_whole:
                        results["whole"].extend(bench_whole(model_name, batch, args.size, dtype, device,
                                                            args.repeats, progress, args.peers))
    finally:
        progress.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"wrote {args.json}")
    if args.plot:
        plot(results, args.plot)
        print(f"wrote {args.plot}")
    return results


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written, and each option's default after its help (where it has
    one worth saying: not a flag, not None, not already described)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {shown})"


def plain(doc: str) -> str:
    """A docstring as terminal text: reST roles and double backticks dropped."""
    doc = re.sub(r":\w+:`~?([^`]+)`", r"\1", doc)
    return doc.replace("``", "")


_SHORT = {"implicit gemm": "impl.gemm", "implicit precomp gemm": "precomp"}


def _short(algorithm: str) -> str:
    """A column header of at most 9 characters that still tells the algorithms apart."""
    return _SHORT.get(algorithm, algorithm[:9])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", nargs="+", default=["vgg16"], help="torchvision model names")
    p.add_argument("--layers", action="store_true", help="only the per-layer conv benchmark")
    p.add_argument("--whole", action="store_true", help="only the whole-model benchmark")
    p.add_argument("--algorithms", nargs="+", default=None,
                   help="conv algorithms per layer (default: every registered one, then guess and default)")
    p.add_argument("--devices", nargs="+", default=["cpu"], help="ai3 devices (see ai3.devices())")
    p.add_argument("--batch", nargs="+", type=int, default=[1], help="batch sizes")
    p.add_argument("--size", type=int, default=224, help="input height and width")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="parameter and input dtype")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per measurement (median)")
    p.add_argument("--threads", type=int, default=None, help="default: torch.get_num_threads()")
    p.add_argument("--unique", action="store_true", help="each distinct conv layer shape once")
    p.add_argument("--json", default=None, help="write all results here")
    p.add_argument("--plot", default=None, help="write a PNG of per-layer speedups here (needs matplotlib)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--peers", nargs="*", default=[], choices=PEERS,
                   help="whole model: also time these CPU engines against swap_backend (pip install onnxruntime "
                        "onnx / openvino)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``ai3-bench`` console script."""
    p = argparse.ArgumentParser(prog="ai3-bench", description=plain(__doc__ or ""), formatter_class=HelpFormatter)
    add_arguments(p)
    run(p.parse_args(argv))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
