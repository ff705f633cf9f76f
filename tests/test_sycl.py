"""The SYCL backend on a SYCL device (``opencl:cpu`` wherever the ``sycl`` extra is installed).

Every op x algorithm x dtype against torch through an ``ai3.Model`` on the device
(activations in device memory) and through single layers on host memory; the seed's
examples and a VGG-style network with ``device=``; dpctl device and queue objects;
bad device strings; the first-compile and cached paths; and proof that the SYCL
kernels, not the CPU fallback, ran. The rest of the suite also runs its device-
parametrised tests on every SYCL device in ``ai3.devices()``. Skipped only when no
SYCL device exists.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import ai3
from ai3 import _sycl_backend
from ai3 import layers as L
from ai3.devices import resolve_device

from helpers import (
    CONV_ATEN,
    DTYPES,
    MODEL_ATEN,
    assert_layer_close,
    assert_network_close,
    dtype_id,
    forbid_torch_ops,
    randn,
    sycl_has_fp64,
    sycl_test_device,
)
from test_swap import ConvNet  # the seed's example network

pytestmark = pytest.mark.skipif(not ai3.using_sycl(), reason=f"no SYCL device: {_sycl_backend.unavailable_reason()}")

REPO = Path(__file__).resolve().parents[1]


DEVICE = sycl_test_device()
CONV_ALGOS = ("direct", "smm", "gemm", "implicit gemm", "implicit precomp gemm", "winograd")


def _fp64() -> bool:
    return sycl_has_fp64(DEVICE)


def _dtypes():
    return [pytest.param(d, id=dtype_id(d)) for d in DTYPES]


def _skip_f64(dtype):
    if dtype == torch.float64 and not _fp64():
        pytest.skip(f"{DEVICE} has no fp64")


def launches() -> int:
    return ai3._sycl.launch_count()


def on_device(layer: L.Layer, x: torch.Tensor) -> torch.Tensor:
    """``layer`` run by an ai3.Model on the SYCL device (device memory between copy in and out)."""
    model = ai3.Model([layer], device=DEVICE)
    return model(x)


def on_host_pointers(layer: L.Layer, x: torch.Tensor) -> torch.Tensor:
    """``layer`` run on the SYCL device directly on host tensors (the kernels stage them)."""
    dev = resolve_device(DEVICE)
    x = x.contiguous()
    out = torch.empty(layer.out_shape(tuple(x.shape)), dtype=x.dtype)
    layer._core.forward(x.data_ptr(), list(x.shape), out.data_ptr(), str(x.dtype).replace("torch.", ""), dev.core)
    return out


def check_both(layer: L.Layer, x: torch.Tensor, expected: torch.Tensor) -> None:
    before = launches()
    with forbid_torch_ops(MODEL_ATEN):
        a = on_device(layer, x)
        b = on_host_pointers(layer, x)
    assert launches() > before, "no SYCL kernel ran"
    assert_layer_close(a, expected)
    assert_layer_close(b, expected)


# ---- conv2d: every algorithm x dtype x a set of configurations ------------------------------------

CONV_CASES = {
    "base": dict(cin=4, cout=6, k=3, padding=1, hw=(9, 10), n=2),
    "s2_d2_g2": dict(cin=6, cout=10, k=3, stride=2, dilation=2, padding=2, groups=2, hw=(13, 11), n=2),
    "depthwise": dict(cin=8, cout=8, k=3, padding=1, groups=8, hw=(7, 9), n=1),
    "depthwise_s2": dict(cin=6, cout=6, k=3, stride=2, padding=1, groups=6, hw=(10, 9), n=2),
    "depthwise_x2_s2_d2": dict(cin=4, cout=8, k=(5, 3), stride=2, dilation=(2, 1), padding=2, groups=4, hw=(11, 9),
                               n=2),
    "k5x3_asym_same": dict(cin=3, cout=9, k=(4, 3), padding="same", hw=(10, 8), n=1),
    "reflect_nobias": dict(cin=5, cout=7, k=3, padding=1, mode="reflect", bias=False, hw=(6, 7), n=2),
    "circular": dict(cin=3, cout=4, k=3, padding=2, mode="circular", hw=(5, 6), n=1),
    "replicate_k1": dict(cin=20, cout=17, k=1, padding=1, mode="replicate", hw=(5, 5), n=3),
    "vgg_like": dict(cin=32, cout=40, k=3, padding=1, hw=(17, 15), n=1),
}


def make_conv(c, dtype):
    m = nn.Conv2d(c["cin"], c["cout"], c["k"], stride=c.get("stride", 1), padding=c.get("padding", 0),
                  dilation=c.get("dilation", 1), groups=c.get("groups", 1), bias=c.get("bias", True),
                  padding_mode=c.get("mode", "zeros"))
    with torch.no_grad():
        if m.bias is not None:
            m.bias.uniform_(-1, 1)
    return m.to(dtype)


def refuses(algo, c) -> bool:
    k = c["k"] if isinstance(c["k"], tuple) else (c["k"], c["k"])
    return algo == "winograd" and not (k == (3, 3) and c.get("stride", 1) == 1 and c.get("dilation", 1) == 1)


@pytest.mark.parametrize("case", list(CONV_CASES))
@pytest.mark.parametrize("dtype", _dtypes())
@pytest.mark.parametrize("algo", CONV_ALGOS + ("guess", "default"))
def test_conv2d_on_device(case, dtype, algo):
    _skip_f64(dtype)
    c = CONV_CASES[case]
    ref = make_conv(c, dtype)
    x = randn(c["n"], c["cin"], *c["hw"], dtype=dtype, seed=3)
    with torch.no_grad():
        expected = ref(x)
    layer = L.Conv2D.from_torch(ref, algo)
    if refuses(algo, c):
        with pytest.raises(ai3.UnsupportedError, match="winograd"):
            on_device(layer, x)
        return
    check_both(layer, x, expected)
    assert layer.resolved_algorithm in CONV_ALGOS
    if algo not in ("guess", "default"):
        assert layer.resolved_algorithm == algo  # never another algorithm under its name


@pytest.mark.parametrize("dtype", _dtypes())
@pytest.mark.parametrize("algo", CONV_ALGOS)
def test_swap_conv2d_on_device_and_backward(dtype, algo):
    _skip_f64(dtype)
    ref = make_conv(CONV_CASES["base"], dtype)
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, algo, device=DEVICE)
    assert m.ai3_device.backend == "sycl" and m.ai3_device.name == DEVICE
    x = randn(2, 4, 9, 10, dtype=dtype, seed=4).requires_grad_(True)
    xr = x.detach().clone().requires_grad_(True)
    before = launches()
    with forbid_torch_ops(CONV_ATEN, require=["ai3::conv2d"]):
        out = m(x)
        out.square().sum().backward()  # the gradients are ai3 convolutions on the device too
    assert launches() > before
    expected = ref(xr)
    expected.square().sum().backward()
    assert_layer_close(out, expected)
    tol = 1e-3 if dtype == torch.float32 else 1e-9
    torch.testing.assert_close(x.grad, xr.grad, atol=tol, rtol=tol)
    torch.testing.assert_close(m.weight.grad, ref.weight.grad, atol=tol, rtol=tol)
    torch.testing.assert_close(m.bias.grad, ref.bias.grad, atol=tol, rtol=tol)


def test_weights_changed_in_place_are_seen():
    ref = make_conv(CONV_CASES["base"], torch.float32)
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "winograd", device=DEVICE)  # caches transformed filters on the device
    x = randn(1, 4, 9, 10, seed=5)
    with torch.no_grad():
        m(x)
        m.weight.mul_(2)  # the version counter changes
        ref.weight.mul_(2)
        assert_layer_close(m(x), ref(x))
        m.weight.data.add_(0.5)  # bypasses the version counter: the fingerprint catches it
        ref.weight.data.add_(0.5)
        assert_layer_close(m(x), ref(x))


# ---- the other ops ------------------------------------------------------------------------------

OP_CASES = [
    ("linear", lambda: nn.Linear(37, 19), (5, 37)),
    ("linear_nobias_3d", lambda: nn.Linear(16, 33, bias=False), (2, 3, 16)),
    ("maxpool", lambda: nn.MaxPool2d(3, 2, padding=1), (2, 3, 11, 10)),
    ("maxpool_ceil_dil", lambda: nn.MaxPool2d((2, 3), (2, 1), padding=1, dilation=(2, 1), ceil_mode=True),
     (1, 4, 9, 8)),
    ("avgpool", lambda: nn.AvgPool2d(3, 2, padding=1), (2, 3, 11, 10)),
    ("avgpool_nopad_ceil", lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False),
     (1, 2, 8, 9)),
    ("avgpool_divisor", lambda: nn.AvgPool2d(2, divisor_override=3), (1, 2, 6, 6)),
    ("adaptive", lambda: nn.AdaptiveAvgPool2d((3, 4)), (2, 3, 10, 7)),
    ("adaptive_up", lambda: nn.AdaptiveAvgPool2d(5), (1, 2, 3, 4)),
    ("relu", lambda: nn.ReLU(), (2, 3, 5, 7)),
    ("flatten", lambda: nn.Flatten(), (2, 3, 4, 5)),
]
_CONVERT = {nn.Linear: L.Linear, nn.MaxPool2d: L.MaxPool2D, nn.AvgPool2d: L.AvgPool2D,
            nn.AdaptiveAvgPool2d: L.AdaptiveAvgPool2D, nn.ReLU: L.ReLU, nn.Flatten: L.Flatten}


@pytest.mark.parametrize("case", OP_CASES, ids=[c[0] for c in OP_CASES])
@pytest.mark.parametrize("dtype", _dtypes())
@pytest.mark.parametrize("algo", ["direct", "default"])
def test_op_on_device(case, dtype, algo):
    _skip_f64(dtype)
    _, make, shape = case
    torch.manual_seed(0)
    module = make().to(dtype)
    x = randn(*shape, dtype=dtype, seed=6)
    with torch.no_grad():
        expected = module(x)
    kw = {"dtype": dtype} if isinstance(module, nn.Linear) else {}
    layer = _CONVERT[type(module)].from_torch(module, algo, **kw)
    if isinstance(module, nn.Flatten):  # a view: the Model passes the buffer on; run it last
        assert_layer_close(on_device(layer, x), expected)
        return
    check_both(layer, x, expected)
    assert layer.resolved_algorithm == "direct"


def test_relu_keeps_nan_and_input():
    x = torch.tensor([[-1.0, float("nan"), 2.0, -0.0]])
    out = on_device(L.ReLU(), x)
    assert torch.isnan(out[0, 1]) and out[0, 0] == 0 and out[0, 2] == 2
    assert torch.isnan(x[0, 1]) and x[0, 0] == -1


# ---- whole networks -----------------------------------------------------------------------------

def test_seed_example_swap_conv2d_on_device():
    torch.manual_seed(0)
    input_data = torch.randn(10, 3, 64, 64)  # the seed uses 224x224; smaller keeps the suite quick
    orig = ConvNet()
    orig_out = orig(input_data)
    ai3.swap_conv2d(orig, ['direct', 'smm'], device="opencl:cpu" if DEVICE.startswith("opencl:cpu") else DEVICE)
    with forbid_torch_ops(CONV_ATEN, require=["ai3::conv2d"]):
        sc_out = orig(input_data)
    assert torch.allclose(orig_out, sc_out, atol=1e-6)
    assert (orig.conv1.algorithm, orig.conv2.algorithm) == ("direct", "smm")
    assert orig.conv1.ai3_device.backend == "sycl"


def test_seed_example_swap_backend_selector_on_device():
    def auto_selector(orig: torch.nn.Conv2d, input_shape) -> str:
        out_channels = orig.weight.shape[0]
        if out_channels < 50 and input_shape[1] < 50 and input_shape[2] > 150 and input_shape[3] > 150:
            return 'direct'
        return 'smm'

    torch.manual_seed(0)
    input_data = torch.randn(1, 3, 224, 224)
    orig = ConvNet().eval()
    with torch.inference_mode():
        torch_out = orig(input_data)
        model = ai3.swap_backend(orig, {"conv2d": auto_selector, "maxpool2d": "default"},
                                 sample_input_shape=(1, 3, 224, 224), device=DEVICE)
        with forbid_torch_ops(MODEL_ATEN):
            sb_out = model(input_data)
    assert torch.allclose(torch_out, sb_out, atol=1e-4)
    assert model.device.backend == "sycl"
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv2D)]
    assert [c.resolved_algorithm for c in convs] == ["direct", "smm"]


def vgg_style() -> nn.Sequential:
    torch.manual_seed(0)
    cfg = [16, 16, "M", 32, 32, "M", 64, 64, 64, "M"]
    layers, cin = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
            cin = v
    layers += [nn.AdaptiveAvgPool2d((3, 3)), nn.Flatten(), nn.Linear(64 * 9, 100), nn.ReLU(True), nn.Dropout(),
               nn.Linear(100, 10)]
    return nn.Sequential(*layers).eval()


@pytest.mark.parametrize("algo", ["default", "winograd", "implicit precomp gemm"])
def test_vgg_style_swap_backend_on_device(algo):
    net = vgg_style()
    x = randn(2, 3, 48, 48, seed=7)
    with torch.no_grad():
        expected = net(x)
    model = ai3.swap_backend(net, {"conv2d": algo}, device=DEVICE)
    before = launches()
    with forbid_torch_ops(MODEL_ATEN):
        out = model(x)
        out2 = model(x)  # buffers planned once, reused
    assert launches() > before
    assert_network_close(out, expected)
    assert torch.equal(out, out2)
    assert "sycl" in repr(model) or DEVICE in repr(model)


# ---- devices --------------------------------------------------------------------------------------

def test_devices_and_using_sycl():
    sycl = [d for d in ai3.devices() if d.backend == "sycl"]
    assert sycl and ai3.using_sycl()
    assert any(d.name == DEVICE for d in sycl)
    for d in sycl:
        assert _sycl_backend.info(d)["kind"] in ("cpu", "gpu", "accelerator")


@pytest.mark.parametrize("spec", ["sycl", "opencl:cpu", "cpu_dpctl", "queue"])
def test_device_forms(spec):
    import dpctl

    if spec in ("opencl:cpu",) and not DEVICE.startswith("opencl:cpu"):
        pytest.skip("no OpenCL CPU device")
    device = {"cpu_dpctl": lambda: dpctl.SyclDevice(DEVICE), "queue": lambda: dpctl.SyclQueue(DEVICE)}.get(
        spec, lambda: spec)()
    ref = make_conv(CONV_CASES["base"], torch.float32)
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "gemm", device=device)
    assert m.ai3_device.backend == "sycl"
    x = randn(1, 4, 9, 10, seed=8)
    with torch.no_grad():
        assert_layer_close(m(x), ref(x))
        model = ai3.swap_backend(nn.Sequential(copy.deepcopy(ref), nn.ReLU()), device=device)
        assert model.device.backend == "sycl"
        assert_layer_close(model(x), ref(x).relu())


def test_queue_with_its_own_context():
    import dpctl

    d = dpctl.SyclDevice(DEVICE)
    q = dpctl.SyclQueue(dpctl.SyclContext(d), d)  # a context of its own: its own kernels and memory
    ref = make_conv(CONV_CASES["base"], torch.float32)
    a, b = copy.deepcopy(ref), copy.deepcopy(ref)
    ai3.swap_conv2d(a, "direct", device=q)
    ai3.swap_conv2d(b, "direct", device=DEVICE)
    x = randn(1, 4, 9, 10, seed=9)
    with torch.no_grad():
        assert_layer_close(a(x), ref(x))
        assert_layer_close(b(x), ref(x))


def test_environment_variable_selects_device(monkeypatch):
    monkeypatch.setenv("AI3_DEVICE", DEVICE)
    m = nn.Sequential(nn.Conv2d(3, 4, 3))
    ai3.swap_conv2d(m, "direct")
    assert m[0].ai3_device.backend == "sycl"


@pytest.mark.parametrize("bad", ["opencl:gpu:7", "level_zero:gpu:3", "nonsense", "opencl:cpu:99", "cuda:0x"])
def test_bad_device_strings(bad):
    usable = [d.name for d in ai3.devices()]
    with pytest.raises(ai3.DeviceError) as e:
        ai3.swap_conv2d(nn.Sequential(nn.Conv2d(3, 4, 3)), device=bad)
    for name in usable:
        assert repr(name) in str(e.value)
    with pytest.raises(ai3.DeviceError):
        ai3.Model([L.ReLU()], device=bad)


def test_float64_refused_clearly_without_fp64():
    if _fp64():
        pytest.skip(f"{DEVICE} has fp64")
    with pytest.raises(ai3.UnsupportedError, match="fp64"):
        on_device(L.ReLU(), torch.zeros(3, dtype=torch.float64))


# ---- the default device policy (a pure function, on fake device lists) ----------------------------

def test_default_policy_gpu_first():
    devs = [("opencl:cpu:0", "cpu"), ("level_zero:gpu:0", "gpu"), ("opencl:gpu:0", "gpu")]
    assert _sycl_backend.choose_default(devs, {}) == "level_zero:gpu:0"
    assert _sycl_backend.choose_default(devs, {"cpu": 0.001, "opencl:cpu:0": 0.0001}) == "level_zero:gpu:0"


def test_default_policy_cpu_by_measurement():
    devs = [("opencl:cpu:0", "cpu"), ("opencl:acc:0", "accelerator")]
    assert _sycl_backend.choose_default(devs, {}) == "cpu"  # nothing measured: the fallback
    assert _sycl_backend.choose_default(devs, {"opencl:cpu:0": 0.01}) == "cpu"  # fallback unmeasured
    assert _sycl_backend.choose_default(devs, {"cpu": 0.02, "opencl:cpu:0": 0.01}) == "opencl:cpu:0"
    assert _sycl_backend.choose_default(devs, {"cpu": 0.01, "opencl:cpu:0": 0.02}) == "cpu"
    assert _sycl_backend.choose_default(devs, {"cpu": 0.02, "opencl:acc:0": 0.001}) == "cpu"  # CPUs only
    assert _sycl_backend.choose_default([], {"cpu": 1.0}) == "cpu"


def test_default_device_follows_stored_measurements(monkeypatch, tmp_path):
    monkeypatch.setenv("AI3_CACHE_DIR", str(tmp_path))
    m = nn.Sequential(nn.Conv2d(3, 4, 3))
    ai3.swap_conv2d(m, "direct")
    gpu = any(_sycl_backend.info(d)["kind"] == "gpu" for d in _sycl_backend.sycl_devices())
    assert m[0].ai3_device.backend == ("sycl" if gpu else "cpu")
    if gpu:
        return
    (tmp_path / "sycl-measurements.json").write_text(json.dumps({"cpu": 1.0, DEVICE: 0.5}))
    ai3.swap_conv2d(m, "direct")
    assert m[0].ai3_device.name == DEVICE


def test_calibrate_a_sycl_device_sets_that_backends_constants(tmp_path, monkeypatch):
    # guess/default on SYCL used the CPU fallback's constants (it picked implicit precomp
    # gemm for ResNet's strided 1x1 convs, 2-3x slower than smm on the device).
    monkeypatch.setenv("AI3_CACHE_DIR", str(tmp_path))
    cpu_before = ai3._core.cost_constants("float32")
    sycl_before = ai3._core.cost_constants("float32", "sycl")
    try:
        got = ai3.calibrate(["float32"], device=DEVICE)["float32"]
        assert got["measured"] == 1.0
        for key in ("gemm_rate", "direct_rate", "winograd_rate", "gather_rate", "precomp_gather_rate"):
            assert 1e6 < got[key] < 1e14, key  # plausible FLOP/s or bytes/s
        assert ai3._core.cost_constants("float32", "sycl") == pytest.approx(got)
        assert ai3._core.cost_constants("float32") == cpu_before  # the CPU fallback's are untouched
        stored = json.loads((tmp_path / "tuned.json").read_text())["constants"]
        assert "backend:sycl" in stored
        # a later process loads them for the SYCL backend
        code = "import ai3; print(ai3._core.cost_constants('float32', 'sycl')['gemm_rate'])"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=dict(os.environ, AI3_CACHE_DIR=str(tmp_path)), check=True, timeout=300).stdout
        assert float(out) == pytest.approx(got["gemm_rate"])
    finally:
        ai3._core.set_cost_constants("float32", sycl_before, "sycl")
        ai3.tuning._forget_resolutions(None)


def test_measure_cpu_devices_times_both(tmp_path, monkeypatch):
    monkeypatch.setenv("AI3_CACHE_DIR", str(tmp_path))
    got = ai3.tuning.measure_cpu_devices(repeats=1)
    assert "cpu" in got and all(v > 0 for v in got.values())
    assert json.loads((tmp_path / "sycl-measurements.json").read_text()) == got


# ---- compilation: first use, cache, warm-up, errors --------------------------------------------------

_SUBPROCESS = textwrap.dedent("""
    import json, sys, time
    import ai3
    dev = [d for d in ai3.devices() if d.name == sys.argv[1]][0]
    t = time.perf_counter()
    secs = ai3._sycl.compile(dev.handle, "layers", "float32")
    print(json.dumps({"seconds": secs, "stats": ai3._sycl_backend.compile_stats()}))
""")


def test_first_compile_then_persistent_cache(tmp_path):
    env = dict(os.environ, SYCL_CACHE_DIR=str(tmp_path / "sycl"), SYCL_CACHE_PERSISTENT="1")
    env.pop("OCL_ICD_FILENAMES", None)  # ai3 sets it itself

    def run():
        r = subprocess.run([sys.executable, "-c", _SUBPROCESS, DEVICE], env=env, capture_output=True, text=True,
                           timeout=300, cwd="/")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr

    cold, cold_err = run()
    assert "compiling SYCL kernels" in cold_err  # said once, on first use
    assert any((tmp_path / "sycl").rglob("*")), "nothing stored in the persistent cache"
    warm, _ = run()
    assert cold["stats"][0] == 1 and warm["stats"][0] == 1
    assert warm["seconds"] < cold["seconds"], (cold, warm)


def test_warmup_compiles_ahead():
    net = vgg_style()
    model = ai3.swap_backend(net, device=DEVICE)
    got = ai3.warmup(model, (1, 3, 32, 32))
    assert got["compile_seconds"] >= 0 and got["forward_seconds"] > 0
    n_before = ai3._sycl_backend.compile_stats()[0]
    model(randn(1, 3, 32, 32))
    assert ai3._sycl_backend.compile_stats()[0] == n_before  # nothing left to compile
    m = nn.Sequential(nn.Conv2d(3, 4, 3))
    ai3.swap_conv2d(m, "direct", device=DEVICE)
    assert set(ai3.warmup(m)) == {"compile_seconds", "forward_seconds"}
    with pytest.raises(ai3.InvalidInputError):
        ai3.warmup(object())


def test_compile_error_carries_compiler_message():
    dev = resolve_device(DEVICE)
    bad = "#include <sycl/sycl.hpp>\nvoid f() { this_is_not_declared(); }\n"
    with pytest.raises(ai3.BackendError, match="this_is_not_declared"):
        ai3._sycl.build_source(dev.handle, bad, [])


def test_python_m_ai3_info_lists_sycl_devices():
    r = subprocess.run([sys.executable, "-m", "ai3", "info"], capture_output=True, text=True, timeout=120, cwd="/")
    assert r.returncode == 0, r.stderr
    assert DEVICE in r.stdout and "sycl device:" in r.stdout


# ---- the ahead-of-time wrappers parse as host code ----------------------------------------------------

def test_aot_wrappers_compile_as_host_code_with_gxx():
    import importlib.metadata as md

    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("no g++")
    dist = md.distribution("intel-sycl-rt")
    header = next((Path(str(dist.locate_file(f))) for f in dist.files or ()
                   if str(f).endswith("include/sycl/sycl.hpp")), None)
    if header is None or not (REPO / "sycl" / "src").is_dir():
        pytest.skip("SYCL headers or the source tree are not available")
    include = header.parent.parent
    for src in ("conv2d.cpp", "layers.cpp", "graph_ops.cpp", "runtime.cpp"):
        cmd = [gxx, "-std=c++17", "-fsyntax-only", "-DAI3_SYCL_AOT", "-DSYCL_DISABLE_FSYCL_SYCLHPP_WARNING",
               "-isystem", str(include), f"-I{REPO / 'core'}", f"-I{REPO / 'sycl'}", f"-I{REPO / 'sycl' / 'src'}",
               str(REPO / "sycl" / "src" / src)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-4000:]


# ---- device memory in (__sycl_usm_array_interface__) ------------------------------------------------

class USMArray:
    """A minimal array over dpctl USM memory, exposing ``__sycl_usm_array_interface__``."""

    def __init__(self, mem, shape, typestr, pointer=None):
        self.mem, self.shape, self.typestr = mem, tuple(shape), typestr
        self.pointer = mem._pointer if pointer is None else pointer

    @property
    def __sycl_usm_array_interface__(self):
        return {"data": (self.pointer, False), "shape": self.shape, "strides": None, "typestr": self.typestr,
                "version": 1, "syclobj": getattr(self.mem, "sycl_queue", None)}


def test_model_reads_usm_device_memory():
    import dpctl
    import dpctl.memory as dpm

    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 16, 5))
    x = randn(2, 3, 8, 8, seed=10)
    with torch.no_grad():
        expected = net(x)
    model = ai3.swap_backend(net, device=DEVICE)
    q = dpctl.SyclQueue(DEVICE)
    mem = dpm.MemoryUSMDevice(x.numel() * 4, queue=q)
    mem.copy_from_host(x.numpy().tobytes())
    out = model.predict(USMArray(mem, x.shape, "<f4"))
    assert_network_close(torch.from_numpy(out.numpy().copy()), expected)
    with pytest.raises(ai3.DTypeError):
        model.predict(USMArray(mem, (x.numel(),), "<i4"))
    host = x.numpy().copy()  # host memory pretending to be USM: refused, never dereferenced as device memory
    with pytest.raises(ai3.DeviceError, match="context"):
        model.predict(USMArray(mem, x.shape, "<f4", pointer=host.ctypes.data))
    with pytest.raises(ai3.DeviceError, match="SYCL"):
        ai3.swap_backend(net, device="cpu").predict(USMArray(mem, x.shape, "<f4"))
