"""The CUDA backend (ai3._cuda: cuDNN, cuBLAS and ai3's own CUDA kernels).

Two halves. The first runs everywhere: the module is built (when nvcc, cuDNN and
cuBLAS were found), imports without a GPU or driver, registers every kernel, and every
way of asking for a CUDA device without a usable GPU is a clear DeviceError (never a
crash). The second compares every algorithm against torch on a real GPU and skips, with
the reason, where there is none.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ai3
from ai3.devices import cuda_unusable_reason, resolve_device

from helpers import (
    CONV_ATEN,
    DTYPES,
    MODEL_ATEN,
    assert_layer_close,
    assert_network_close,
    dtype_id,
    forbid_torch_ops,
    randn,
)
from test_conv2d import CONFIGS, input_for, make_conv

STATUS = ai3.backend_status()["cuda"]
BUILT = STATUS.startswith("built")
REASON = cuda_unusable_reason()
HAVE_GPU = not REASON and torch.cuda.is_available()
needs_build = pytest.mark.skipif(not BUILT, reason=f"ai3's CUDA backend is not built here: {STATUS}")
needs_gpu = pytest.mark.skipif(not HAVE_GPU, reason=f"needs a CUDA GPU usable by ai3 and torch: "
                                                    f"{REASON or 'torch.cuda.is_available() is False'}")
no_gpu = pytest.mark.skipif(HAVE_GPU or not BUILT, reason="checks the behaviour without a usable GPU")

#: what the CUDA backend registers for conv2d: cuDNN's algorithms and meta-names, ai3's direct and smm.
CUDA_CONV = ("direct", "smm", "winograd", "gemm", "implicit gemm", "implicit precomp gemm", "guess", "default")
CUDNN_FIXED = ("gemm", "implicit gemm", "implicit precomp gemm", "winograd")
#: what a CUDA 'guess'/'default' layer reports it ran: one of cuDNN's forward algorithms.
CUDNN_RUNS = ("gemm", "implicit gemm", "implicit precomp gemm", "winograd", "cuDNN direct", "cuDNN fft",
              "cuDNN fft tiling")
REPO = Path(__file__).resolve().parents[1]


# ---- everywhere: the build, the import, the errors ---------------------------------------------

def test_status_says_built_or_why_not():
    assert BUILT or STATUS.startswith("off: "), STATUS
    if BUILT:
        assert "cuDNN" in STATUS and "cuBLAS" in STATUS and "nvcc" in STATUS


@needs_build
def test_module_imports_and_registers_every_kernel():
    import ai3._cuda as cuda_mod

    entries = {(op, a, d) for op, a, b, d in ai3._core.registry_entries() if b == "cuda"}
    for dt in ("float32", "float64"):
        for a in CUDA_CONV:
            assert ("conv2d", a, dt) in entries, (a, dt)
        for op in ("linear", "maxpool2d", "avgpool2d", "adaptiveavgpool2d", "relu", "flatten", "pad2d"):
            assert (op, "direct", dt) in entries, (op, dt)
    assert not any(a in ("mps", "metal") for _, a, _ in entries)
    v = cuda_mod.versions()
    assert v["cudnn_built"].startswith("9.") and v["cudnn_loaded"].startswith("9.")
    assert v["cublas"] != "unknown"


@needs_build
def test_module_carries_device_code():
    """The kernels were compiled for the device (nvcc embeds them as a fat binary)."""
    import ai3._cuda as cuda_mod

    data = Path(cuda_mod.__file__).read_bytes()
    assert b".nv_fatbin" in data
    # the cuDNN and cuBLAS the module loads are the wheels' (or the system's) libraries, by soname
    assert b"libcudnn.so.9" in data and b"libcublas.so." in data


@needs_build
def test_import_in_a_fresh_process_without_crash():
    """Loading the module, listing devices and exiting never crash, with or without a driver."""
    code = ("import ai3, ai3._cuda as c; print(ai3.using_cudnn(), ai3.using_cublas()); "
            "print(repr(c.unusable_reason()))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr


def test_using_cudnn_and_cublas_follow_the_devices():
    has_cuda = any(d.backend == "cuda" for d in ai3.devices())
    assert ai3.using_cudnn() is has_cuda and ai3.using_cublas() is has_cuda
    if REASON:
        assert not ai3.using_cudnn() and not ai3.using_cublas()
        assert [d.name for d in ai3.devices()] == ["cpu"] or all(d.backend != "cuda" for d in ai3.devices())


@no_gpu
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3", torch.device("cuda"), torch.device("cuda", 1)],
                         ids=str)
def test_cuda_device_without_gpu_is_a_clear_device_error(spec):
    with pytest.raises(ai3.DeviceError, match="not usable") as e:
        ai3.swap_conv2d(nn.Conv2d(3, 4, 3), "gemm", device=spec)
    assert "cuda" in str(e.value).lower() and "Usable devices: 'cpu'" in str(e.value)
    # the library's own reason is carried
    assert "cudaGetDeviceCount" in str(e.value) or "not built" in str(e.value)
    with pytest.raises(ai3.DeviceError):
        ai3.swap_backend(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), device=spec)


@no_gpu
def test_cuda_via_environment_without_gpu(monkeypatch):
    monkeypatch.setenv("AI3_DEVICE", "cuda")
    with pytest.raises(ai3.DeviceError, match="not usable"):
        ai3.swap_conv2d(nn.Conv2d(3, 4, 3), "direct")


def test_bad_cuda_names():
    with pytest.raises(ai3.DeviceError, match="cuda:N"):
        ai3.swap_conv2d(nn.Conv2d(3, 4, 3), "direct", device="cuda:first")
    if HAVE_GPU:
        with pytest.raises(ai3.DeviceError, match="does not exist"):
            ai3.swap_conv2d(nn.Conv2d(3, 4, 3), "direct", device=f"cuda:{torch.cuda.device_count() + 3}")


@no_gpu
def test_module_functions_raise_not_crash():
    import ai3._cuda as cuda_mod

    assert cuda_mod.unusable_reason()
    with pytest.raises(ai3.BackendError, match="cudaGetDeviceCount"):
        cuda_mod.device_count()
    with pytest.raises(ai3.BackendError, match="cudaGetDeviceCount"):
        cuda_mod.context(0, 0)


@no_gpu
def test_core_refuses_a_cuda_device_without_a_handle():
    """A hand-made device tuple with no context never reaches a CUDA call."""
    import ai3._cuda  # noqa: F401  (registers the kernels and the device memory)

    layer = ai3.layers.ReLU()
    with pytest.raises(ai3.InvalidInputError, match="CUDA device from ai3.devices"):
        x = torch.randn(4)
        out = torch.empty(4)
        layer._core.forward(x.data_ptr(), [4], out.data_ptr(), "float32", ("cuda", 0, 0))


def test_info_reports_cuda():
    r = subprocess.run([sys.executable, "-m", "ai3", "info"], capture_output=True, text=True, timeout=120, cwd="/")
    assert r.returncode == 0, r.stderr
    assert STATUS in r.stdout
    if BUILT and REASON:
        assert f"cuda not usable: {REASON}" in r.stdout
    if BUILT:
        assert "cuda libraries:" in r.stdout and "cudnn_loaded" in r.stdout
        assert any(line.split()[:2] == ["conv2d", "cuda"] for line in r.stdout.splitlines())


def test_fake_kernel_on_meta_tensors_for_every_cuda_algorithm():
    """torch.compile and meta tensors see the output shape of the op with its device argument."""
    x = torch.empty(2, 4, 9, 10, device="meta")
    w = torch.empty(6, 4, 3, 3, device="meta")
    out = torch.ops.ai3.conv2d(x, w, None, [2, 1], [1, 1, 0, 2], [1, 1], 1, "zeros", "gemm", "cuda:0")
    assert out.shape == (2, 6, 5, 10) and out.device.type == "meta"


def _cmake() -> str:
    exe = Path(sys.executable).parent / "cmake"
    return str(exe) if exe.exists() else (shutil.which("cmake") or "")


def _configure(tmp: str, *args: str, env=None) -> subprocess.CompletedProcess:
    import pybind11

    cmd = [_cmake(), "-S", str(REPO), "-B", tmp, f"-DPython_EXECUTABLE={sys.executable}",
           f"-Dpybind11_DIR={pybind11.get_cmake_dir()}", *args]
    ninja = Path(sys.executable).parent / "ninja"
    if ninja.exists():
        cmd += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.skipif(not _cmake() or not (REPO / "CMakeLists.txt").exists(), reason="needs cmake and the source tree")
@pytest.mark.parametrize("mode", ["OFF", "ON-without-nvcc"])
def test_cmake_cuda_switch(mode):
    """AI3_CUDA=OFF reports why; AI3_CUDA=ON makes a missing nvcc a configure error."""
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "OFF":
            r = _configure(tmp, "-DAI3_CUDA=OFF", "-DAI3_SYCL=OFF")
            assert r.returncode == 0, r.stdout + r.stderr
            assert "cuda=off: disabled with AI3_CUDA=OFF" in r.stdout
        else:
            env = dict(os.environ, CUDACXX="/nonexistent/nvcc", PATH="/usr/bin:/bin")
            r = _configure(tmp, "-DAI3_CUDA=ON", "-DAI3_SYCL=OFF", env=env)
            assert r.returncode != 0
            assert "AI3_CUDA=ON but no CUDA compiler (nvcc) found" in r.stdout + r.stderr


# ---- on a GPU: every algorithm against torch ------------------------------------------------------

@pytest.fixture
def exact_torch():
    """torch's reference without TF32 (ai3 runs float32 exactly unless AI3_CUDA_TF32=1)."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def _winograd_applies(cfg) -> bool:
    k = cfg["k"] if isinstance(cfg["k"], tuple) else (cfg["k"], cfg["k"])
    return k == (3, 3) and cfg["stride"] == 1 and cfg["dilation"] == 1


def _may_refuse(algo: str, cfg, dtype) -> bool:
    """Only winograd refuses, and only outside 3x3/stride 1/dilation 1 (docs/architecture.md): where cuDNN
    has no Winograd kernel (float64, ...) ai3's own F(2x2, 3x3) runs the layer."""
    return algo == "winograd" and not _winograd_applies(cfg)


def _run_or_refuse(algo, cfg, dtype, run, expected):
    if _may_refuse(algo, cfg, dtype):
        with pytest.raises(ai3.UnsupportedError, match="winograd"):
            with torch.no_grad():
                run()
        return
    with torch.no_grad():
        out = run()
    assert out.device == expected.device
    assert_layer_close(out.cpu(), expected.cpu())


@needs_gpu
@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("algo", CUDA_CONV)
def test_swap_conv2d_on_a_cuda_model_matches_torch(cfg, dtype, algo, exact_torch):
    ref = make_conv(cfg, dtype).cuda()
    x = input_for(cfg, dtype).cuda()
    with torch.no_grad():
        expected = ref(x)
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, algo)  # device=None follows the CUDA parameters
    assert m.ai3_device.backend == "cuda"

    def run():
        with forbid_torch_ops(CONV_ATEN, require=["ai3::conv2d"]):
            return m(x)

    _run_or_refuse(algo, cfg, dtype, run, expected)
    if not _may_refuse(algo, cfg, dtype):  # what ran, as the layer reports it
        assert m.resolve_for(tuple(x.shape)) in (CUDNN_RUNS if algo in ("guess", "default") else (algo,))


@needs_gpu
@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c.id in ("base", "s2", "p_same_k4_asym", "depthwise",
                                                                "reflect", "g3_s2_d2", "nobias")])
@pytest.mark.parametrize("algo", CUDA_CONV)
def test_cpu_tensors_on_a_cuda_layer_are_staged(cfg, algo, exact_torch):
    ref = make_conv(cfg, torch.float32)
    x = input_for(cfg, torch.float32)
    with torch.no_grad():
        expected = ref(x)
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, algo, device="cuda")
    _run_or_refuse(algo, cfg, torch.float32, lambda: m(x), expected)


@needs_gpu
@pytest.mark.parametrize("algo", ["direct", "smm", "implicit gemm", "default"])
def test_backward_on_cuda_matches_torch(algo, exact_torch):
    ref = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2).double().cuda()
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, algo)
    x1 = randn(2, 4, 9, 10, dtype=torch.float64).cuda().requires_grad_(True)
    x2 = x1.detach().clone().requires_grad_(True)
    ref(x1).square().sum().backward()
    m(x2).square().sum().backward()
    assert_layer_close(x2.grad.cpu(), x1.grad.cpu())
    assert_layer_close(m.weight.grad.cpu(), ref.weight.grad.cpu())
    assert_layer_close(m.bias.grad.cpu(), ref.bias.grad.cpu())


@needs_gpu
def test_runs_on_torch_current_stream_and_sees_weight_updates(exact_torch):
    ref = nn.Conv2d(8, 8, 3, padding=1).cuda()
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "implicit precomp gemm")
    x = torch.randn(4, 8, 32, 32, device="cuda")
    s = torch.cuda.Stream()
    with torch.cuda.stream(s), torch.no_grad():
        y = x * 2  # produced on s: ai3 must queue behind it on the same stream
        out = m(y)
        ref_out = ref(y)
    s.synchronize()
    assert_layer_close(out.cpu(), ref_out.cpu())
    with torch.no_grad():  # in place, as an optimiser step
        m.weight.add_(0.5)
        ref.weight.add_(0.5)
        assert_layer_close(m(x).cpu(), ref(x).cpu())


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_other_layers_on_cuda_match_torch(dtype):
    x = randn(2, 5, 13, 12, dtype=dtype)
    cases = [
        (nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True), ai3.layers.MaxPool2D(3, 2, 1, 2, True)),
        (nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
         ai3.layers.AvgPool2D(3, 2, 1, True, False)),
        (nn.AvgPool2d(2, 3, 1, divisor_override=3), ai3.layers.AvgPool2D(2, 3, 1, divisor_override=3)),
        (nn.AdaptiveAvgPool2d((5, 7)), ai3.layers.AdaptiveAvgPool2D((5, 7))),
        (nn.ReLU(), ai3.layers.ReLU()),
        (nn.Flatten(), ai3.layers.Flatten()),
    ]
    for mod, layer in cases:
        model = ai3.Model([layer], device="cuda")
        with forbid_torch_ops(MODEL_ATEN):
            got_cpu_in = model(x)
            got_cuda_in = model(x.cuda())
        assert got_cuda_in.device.type == "cuda"
        assert_layer_close(got_cpu_in, mod(x), msg=repr(mod))
        assert_layer_close(got_cuda_in.cpu(), mod(x), msg=repr(mod))
    lin = nn.Linear(12, 7).to(dtype)
    model = ai3.Model([ai3.layers.Linear.from_torch(lin)], device="cuda")
    with torch.no_grad():
        assert_layer_close(model(x), lin(x))


@needs_gpu
@pytest.mark.parametrize("algo", ["direct", "smm", "gemm", "implicit gemm", "implicit precomp gemm", "guess",
                                  "default"])
def test_swap_backend_on_cuda_matches_torch(algo, exact_torch):
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, stride=2),
                        nn.ReLU(), nn.AdaptiveAvgPool2d((3, 3)), nn.Flatten(), nn.Linear(144, 10)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = net(x)
    model = ai3.swap_backend(net, {"conv2d": algo}, device="cuda")
    assert model.device.backend == "cuda"
    with forbid_torch_ops(MODEL_ATEN):
        out_host = model(x)
        out_dev = model(x.cuda())
    assert_network_close(out_host, expected)
    assert_network_close(out_dev.cpu(), expected)
    conv = model.layers[0]
    if algo in ("guess", "default"):  # the cuDNN algorithm cuDNN's heuristic / Find picked
        assert conv.resolved_algorithm in CUDNN_RUNS, conv.resolved_algorithm
    else:
        assert conv.resolved_algorithm == algo
    # following a CUDA model's parameters
    model2 = ai3.swap_backend(copy.deepcopy(net).cuda(), {"conv2d": algo})
    assert model2.device.backend == "cuda"
    assert_network_close(model2(x.cuda()).cpu(), expected)


@needs_gpu
def test_winograd_refuses_clearly_outside_its_shapes():
    m = nn.Conv2d(4, 4, 5, stride=2).cuda()
    ai3.swap_conv2d(m, "winograd")
    with pytest.raises(ai3.UnsupportedError, match="winograd"):
        with torch.no_grad():
            m(torch.randn(1, 4, 16, 16, device="cuda"))


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_winograd_runs_winograd_where_cudnn_has_none(dtype, exact_torch):
    """float64 has no cuDNN Winograd: ai3's own F(2x2, 3x3) runs it (never another algorithm)."""
    ref = nn.Conv2d(6, 8, 3, padding=1, groups=2).to("cuda", dtype)
    layer = ai3.layers.Conv2D.from_torch(ref, "winograd")
    model = ai3.Model([layer], device="cuda")
    x = randn(2, 6, 11, 12, dtype=dtype)
    with torch.no_grad():
        assert_layer_close(model(x), ref(x.cuda()).cpu())
    assert layer.resolved_algorithm == "winograd"


@needs_gpu
def test_tensor_on_another_device_is_refused():
    m = nn.Conv2d(3, 4, 3)
    ai3.swap_conv2d(m, "direct", device="cpu")
    with pytest.raises(ai3.DeviceError, match="runs on cpu"):
        m.cuda()(torch.randn(1, 3, 8, 8, device="cuda"))


@needs_gpu
def test_large_batch_runs_in_cudnn_chunks(exact_torch):
    """A batch whose tensors exceed cuDNN's int32 element counts runs in chunks of images."""
    free, _ = torch.cuda.mem_get_info()
    need = 3 * (2**31 + 2**20) * 4 + 2**30  # input, ai3 and torch outputs, workspace
    if free < need:
        pytest.skip(f"needs {need / 2**30:.1f} GiB of free GPU memory")
    ref = nn.Conv2d(1, 1, 1, bias=False).cuda()
    m = copy.deepcopy(ref)
    ai3.swap_conv2d(m, "implicit gemm")
    x = torch.randn(2**15 + 16, 1, 256, 256, device="cuda")  # > 2^31 elements
    with torch.no_grad():
        assert torch.equal(m(x), ref(x))


def test_benchmark_script_parses_and_explains_a_missing_gpu():
    script = REPO / "benchmarks" / "cuda_conv.py"
    r = subprocess.run([sys.executable, str(script), "--algorithms", "nope"], capture_output=True, text=True,
                       timeout=120, cwd="/")
    assert r.returncode == 2 and "unknown conv2d algorithm 'nope'" in r.stderr and "Traceback" not in r.stderr
    if not HAVE_GPU:
        r = subprocess.run([sys.executable, str(script), "--models", "vgg16", "--batches", "1"], capture_output=True,
                           text=True, timeout=120, cwd="/")
        assert r.returncode == 1 and "needs a CUDA GPU" in r.stderr and "Traceback" not in r.stderr


@needs_gpu
@pytest.mark.parametrize("algo", CUDA_CONV)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_opcheck_on_cuda(algo, requires_grad, exact_torch):
    g = torch.Generator().manual_seed(1)
    x, w, b = torch.randn(2, 4, 7, 8, generator=g), torch.randn(6, 2, 3, 3, generator=g), torch.randn(6, generator=g)
    args = [t.double().cuda().requires_grad_(requires_grad) for t in (x, w, b)]
    torch.library.opcheck(torch.ops.ai3.conv2d.default,
                          (*args, [1, 1], [1, 1, 1, 1], [1, 1], 2, "zeros", algo, "cpu"))
    args = [t.float().cuda().requires_grad_(requires_grad) for t in (x, w, b)]
    torch.library.opcheck(torch.ops.ai3.conv2d.default,
                          (*args, [1, 1], [0, 1, 2, 0], [1, 1], 2, "reflect", algo, "cpu"))


@needs_build
@pytest.mark.parametrize("library, code, cls, text", [
    ("cuda", 2, ai3.BackendError, "cudaErrorMemoryAllocation: out of memory"),
    ("cuda", 100, ai3.InvalidInputError, "cudaErrorNoDevice"),
    ("cudnn", 2000, ai3.InvalidInputError, "CUDNN_STATUS_BAD_PARAM"),
    ("cudnn", 3000, ai3.UnsupportedError, "CUDNN_STATUS_NOT_SUPPORTED"),
    ("cudnn", 4000, ai3.BackendError, "CUDNN_STATUS_INTERNAL_ERROR"),
    ("cublas", 3, ai3.BackendError, "CUBLAS_STATUS_ALLOC_FAILED"),
    ("cublas", 15, ai3.UnsupportedError, "CUBLAS_STATUS_NOT_SUPPORTED"),
])
def test_library_errors_carry_the_library_message(library, code, cls, text):
    """A failing CUDA/cuDNN/cuBLAS call raises a Python exception with the library's own status text."""
    import ai3._cuda as cuda_mod

    with pytest.raises(cls, match=text) as e:
        cuda_mod._raise_status(library, code)
    assert "(in " in str(e.value)  # names the failing call
    cuda_mod._raise_status(library, 0)  # success raises nothing


# ---- the graph ops (swap_backend's graph form) on CUDA --------------------------------------------

GRAPH_OPS = ("batchnorm2d", "add", "mul", "cat", "split", "permute", "reshape", "mean", "layernorm", "relu6",
             "hardswish", "hardsigmoid", "silu", "sigmoid", "gelu")
#: ops a graph runs without a kernel (ai3's core copies a constant through the backend's DeviceOps)
KERNEL_FREE = ("constant",)
#: (name, constructor kwargs, input size) of the networks issue 7 requires on every device backend
GRAPH_MODELS = [
    ("resnet18", {}, 32),
    ("mobilenet_v3_small", {}, 32),
    ("efficientnet_b0", {}, 32),
    ("densenet121", {}, 32),
    ("shufflenet_v2_x1_0", {}, 32),
    ("convnext_tiny", {}, 32),
    ("googlenet", {"aux_logits": False, "init_weights": True}, 32),
]


def _cuda_entries():
    return {(op, a, d) for op, a, b, d in ai3._core.registry_entries() if b == "cuda"}


@needs_build
def test_module_registers_every_graph_op():
    import ai3._cuda  # noqa: F401

    entries = _cuda_entries()
    for op in GRAPH_OPS:
        for dt in ("float32", "float64"):
            assert (op, "direct", dt) in entries, (op, dt)
    # Nothing the CPU backend can run is missing on CUDA, in either dtype.
    cpu = {(op, d) for op, a, b, d in ai3._core.registry_entries() if b == "cpu"}
    assert cpu <= {(op, d) for op, _, d in entries}, sorted(cpu - {(op, d) for op, _, d in entries})


@needs_build
@pytest.mark.parametrize("name,kw,size", GRAPH_MODELS, ids=[m[0] for m in GRAPH_MODELS])
def test_every_layer_of_the_graph_models_has_a_cuda_kernel(name, kw, size):
    """What swap_backend builds for each network resolves to a registered CUDA kernel in both
    dtypes (the kernels themselves run in the GPU tests below)."""
    import ai3._cuda  # noqa: F401

    from test_models import make

    entries = _cuda_entries()
    fast = ai3.swap_backend(make(name, kw, size), sample_input_shape=(1, 3, size, size))
    ops = {layer.op for layer in fast.layers}
    assert "torch" not in ops
    for layer in fast.layers:
        if layer.op in KERNEL_FREE:
            continue
        algo = layer.algorithm if layer.op == "conv2d" else "direct"
        for dt in ("float32", "float64"):
            assert (layer.op, algo, dt) in entries, (name, layer.op, algo, dt)


def _bn_case(shape):
    def make(dtype):
        bn = nn.BatchNorm2d(shape[-3]).to(dtype).eval()
        with torch.no_grad():
            bn.running_mean.copy_(randn(shape[-3], dtype=dtype, seed=7))
            bn.running_var.copy_(randn(shape[-3], dtype=dtype, seed=8).abs() + 0.1)
            bn.weight.copy_(randn(shape[-3], dtype=dtype, seed=9))
            bn.bias.copy_(randn(shape[-3], dtype=dtype, seed=10))
        layer = ai3.layers.BatchNorm2D.from_torch(bn)
        # torch's reference runs where its input is (built here without a GPU for the coverage test)
        ref = ((lambda x: bn.to(x.device)(x.unsqueeze(0)).squeeze(0)) if len(shape) == 3
               else (lambda x: bn.to(x.device)(x)))
        return layer, [randn(*shape, dtype=dtype)], ref
    return make


def _binary_case(op, a, b):
    def make(dtype):
        layer = ai3.layers.Add() if op == "add" else ai3.layers.Mul()
        xs = [randn(*a, dtype=dtype, seed=1), randn(*b, dtype=dtype, seed=2)]
        return layer, xs, (lambda x, y: x + y) if op == "add" else (lambda x, y: x * y)
    return make


def _cat_case(dim, sizes):
    def make(dtype):
        xs = []
        for i, n in enumerate(sizes):
            s = [2, 3, 4, 5]
            s[dim] = n
            xs.append(randn(*s, dtype=dtype, seed=i))
        return ai3.layers.Cat(dim), xs, lambda *t: torch.cat(t, dim)
    return make


def _unary_case(layer_fn, shape, ref, scale=1.0, shift=0.0):
    def make(dtype):
        return layer_fn(), [randn(*shape, dtype=dtype) * scale + shift], ref
    return make


def _layernorm_case(shape, norm, affine, over_channels=False):
    def make(dtype):
        d = (shape[1],) if over_channels else norm
        w = randn(*d, dtype=dtype, seed=5) if affine else None
        b = randn(*d, dtype=dtype, seed=6) if affine else None
        layer = ai3.layers.LayerNorm(d, w, b, 1e-6, over_channels=over_channels)
        def on(t, x):
            return None if t is None else t.to(x.device)

        if over_channels:
            perm = (0,) + tuple(range(2, len(shape))) + (1,)
            back = (0, len(shape) - 1) + tuple(range(1, len(shape) - 1))
            ref = lambda x: F.layer_norm(x.permute(perm), d, on(w, x), on(b, x), 1e-6).permute(back)  # noqa: E731
        else:
            ref = lambda x: F.layer_norm(x, d, on(w, x), on(b, x), 1e-6)  # noqa: E731
        return layer, [randn(*shape, dtype=dtype) * 3 + 1], ref
    return make


def _graph_op_cases():
    from test_graph_ops import BROADCAST

    L = ai3.layers
    c = [pytest.param(_bn_case(s), id=f"batchnorm2d-{s}") for s in [(2, 4, 3, 5), (4, 3, 5), (3, 70, 1, 1)]]
    c += [pytest.param(_binary_case(op, a, b), id=f"{op}-{a}-{b}") for op in ("add", "mul") for a, b in BROADCAST]
    c += [pytest.param(_cat_case(d, sizes), id=f"cat-{d}-{sizes}")
          for d, sizes in [(0, (1, 2, 3)), (1, (1, 0, 2)), (-1, (3, 1, 5)), (2, (4,))]]
    c += [pytest.param(_unary_case(lambda d=d, s=s, n=n: L.Split(d, s, n), (2, 5, 3, 5),
                                   lambda x, d=d, s=s, n=n: x.narrow(d, s, n).contiguous()), id=f"split-{d}-{s}-{n}")
          for d, s, n in [(1, 0, 2), (1, 2, 3), (-1, 1, 3), (0, 1, 1), (3, 0, 5)]]
    c += [pytest.param(_unary_case(lambda p=p: L.Permute(p), (2, 3, 4, 5), lambda x, p=p: x.permute(p).contiguous()),
                       id=f"permute-{p}") for p in [(0, 2, 3, 1), (0, 3, 1, 2), (3, 2, 1, 0), (0, 1, 2, 3)]]
    # batches of 2-D transposes (the tiled kernel) with ragged 32 x 32 tiles on both sides
    c += [pytest.param(_unary_case(lambda p=p: L.Permute(p), s, lambda x, p=p: x.permute(p).contiguous()),
                       id=f"permute-tiled-{s}-{p}")
          for s, p in [((2, 37, 9, 7), (0, 2, 3, 1)), ((3, 5, 6, 70), (0, 3, 1, 2)), ((33, 65), (1, 0))]]
    c.append(pytest.param(_unary_case(lambda: L.Permute.transpose(1, 2), (2, 3, 1, 5, 6),
                                      lambda x: x.transpose(1, 2).contiguous()), id="transpose-rank5"))
    c.append(pytest.param(_unary_case(lambda: L.Permute.transpose(1, 2), (2, 2, 3, 4, 4),
                                      lambda x: x.transpose(1, 2).contiguous()), id="channel-shuffle"))
    c.append(pytest.param(_unary_case(lambda: L.Reshape([(0, 0), 2, 2, -1]), (3, 4, 5, 6),
                                      lambda x: x.view(3, 2, 2, -1)), id="reshape"))
    mean_cases = [((2, 3, 4, 5), (2, 3), False), ((2, 3, 4, 5), (2, 3), True), ((2, 3, 4, 5), (1,), False),
                  ((2, 3, 4, 5), (0, 1, 2, 3), False), ((2, 7, 33, 31), (2, 3), True),  # rows of 1023 > 256 threads
                  ((3, 50, 37), (1,), False)]  # a middle dim: tiles of 32 columns, the last one partial
    c += [pytest.param(_unary_case(lambda d=d, k=k: L.Mean(d, k), s, lambda x, d=d, k=k: x.mean(d, keepdim=k)),
                       id=f"mean-{s}-{d}-{k}") for s, d, k in mean_cases]
    c += [pytest.param(_layernorm_case(s, n, aff), id=f"layernorm-{s}-{n}-{aff}")
          for s, n in [((2, 4, 5, 8), (8,)), ((2, 4, 5, 8), (5, 8)), ((3, 1000), (1000,))] for aff in (True, False)]
    c += [pytest.param(_layernorm_case(s, None, aff, over_channels=True), id=f"layernorm2d-{s}-{aff}")
          for s in [(2, 8, 5, 7), (1, 3, 300), (2, 6, 1, 1)] for aff in (True, False)]
    pointwise = [(L.ReLU6, F.relu6), (L.Hardswish, F.hardswish), (L.Hardsigmoid, F.hardsigmoid), (L.SiLU, F.silu),
                 (L.Sigmoid, torch.sigmoid), (lambda: L.GELU("none"), lambda x: F.gelu(x)),
                 (lambda: L.GELU("tanh"), lambda x: F.gelu(x, approximate="tanh"))]
    names = ["relu6", "hardswish", "hardsigmoid", "silu", "sigmoid", "gelu", "gelu-tanh"]
    c += [pytest.param(_unary_case(cls, (3, 5, 67), ref, scale=4.0), id=name)
          for (cls, ref), name in zip(pointwise, names)]
    return c


GRAPH_CASES = _graph_op_cases()
#: ops whose graph node may write over a dying first input of the output's shape
IN_PLACE = ("batchnorm2d", "add", "mul", "layernorm", "relu6", "hardswish", "hardsigmoid", "silu", "sigmoid", "gelu")


def test_graph_op_cases_cover_every_graph_op():
    """The GPU cases below test every graph op; their torch references are right on the CPU."""
    made = set()
    for case in GRAPH_CASES:
        layer, xs, ref = case.values[0](torch.float64)
        made.add(layer.op)
        with torch.no_grad():
            expected = ref(*xs)
        shapes = [tuple(x.shape) for x in xs]
        multi = isinstance(layer, ai3.layers._MultiInput)
        assert tuple(expected.shape) == (layer.out_shape(*shapes) if multi else layer.out_shape(shapes[0])), case.id
    assert made == set(GRAPH_OPS)


@needs_gpu
@pytest.mark.parametrize("case", GRAPH_CASES)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_graph_op_on_cuda_matches_torch(case, dtype):
    """Each graph op's CUDA kernel against torch on the GPU, four ways: CPU tensors (staged in
    and out), CUDA tensors (device pointers on torch's stream), inside a graph Model on "cuda",
    and in place over a buffer of the Model."""
    from test_models import GRAPH_ATEN

    layer, xs, ref = case(dtype)
    xs_cuda = [x.cuda() for x in xs]
    with torch.no_grad():
        expected = ref(*xs_cuda).cpu()
    dev = resolve_device("cuda")
    name = str(dtype).replace("torch.", "")
    shapes = [list(x.shape) for x in xs]

    out = torch.full(expected.shape, float("nan"), dtype=dtype)
    layer._core.forward_n([x.data_ptr() for x in xs], shapes, out.data_ptr(), name, dev.core)
    assert_layer_close(out, expected, msg="CPU tensors")

    out_cuda = torch.full(expected.shape, float("nan"), dtype=dtype, device="cuda")
    layer._core.forward_n([x.data_ptr() for x in xs_cuda], shapes, out_cuda.data_ptr(), name, dev.core)
    assert_layer_close(out_cuda.cpu(), expected, msg="CUDA tensors")

    # In a graph: the first operand is the input, the others constants (copied to the device).
    consts = [ai3.layers.Constant(x, dtype=dtype) for x in xs[1:]]
    k = len(consts)
    model = ai3.Model([*consts, layer], inputs=[[]] * k + [[0, *range(1, k + 1)]], device="cuda")
    with forbid_torch_ops(GRAPH_ATEN):
        got = model(xs_cuda[0])
    assert got.device.type == "cuda"
    assert_layer_close(got.cpu(), expected, msg="graph Model")
    assert_layer_close(model(xs[0]), expected, msg="graph Model, CPU input")

    # In place: the first operand is a copy (an identity permute) that dies at the op.
    ident = ai3.layers.Permute(tuple(range(xs[0].dim())))
    model = ai3.Model([ident, *consts, layer], inputs=[[0]] + [[]] * k + [[1, *range(2, k + 2)]], device="cuda")
    if layer.op in IN_PLACE and tuple(xs[0].shape) == tuple(expected.shape):
        slot = model.buffer_plan(tuple(xs[0].shape), name)["slot"]
        assert slot[-1] == slot[1], slot  # the op's output is its input's buffer
    assert_layer_close(model(xs_cuda[0]).cpu(), expected, msg="in place")


def _run_layer_on_cuda(layer, *xs):
    """One layer on CUDA tensors (device pointers, torch's stream); returns the output."""
    out = torch.empty(layer.out_shape(*[tuple(x.shape) for x in xs]) if len(xs) > 1
                      else layer.out_shape(tuple(xs[0].shape)), dtype=xs[0].dtype, device="cuda")
    layer._core.forward_n([x.data_ptr() for x in xs], [list(x.shape) for x in xs], out.data_ptr(),
                          str(xs[0].dtype).replace("torch.", ""), resolve_device("cuda").core)
    return out


@needs_gpu
def test_graph_ops_beyond_one_grid():
    """Grids are capped at 2^20 blocks and the kernels loop over the rest: rows, tiles and
    transposes past the cap are all computed."""
    L = ai3.layers
    g = torch.Generator("cuda").manual_seed(3)
    rows = (1 << 20) + 5
    x = torch.randn(rows, 7, device="cuda", generator=g)
    assert_layer_close(_run_layer_on_cuda(L.Mean((1,), False), x).cpu(), x.mean(1).cpu())
    assert_layer_close(_run_layer_on_cuda(L.LayerNorm((7,)), x).cpu(), F.layer_norm(x, (7,)).cpu())
    y = torch.randn((1 << 20) + 1, 2, 33, device="cuda", generator=g)  # 2^21 + 2 tiles of 32 columns
    assert_layer_close(_run_layer_on_cuda(L.Mean((1,), True), y).cpu(), y.mean(1, keepdim=True).cpu())
    assert_layer_close(_run_layer_on_cuda(L.LayerNorm(2, over_channels=True), y).cpu(),
                       F.layer_norm(y.transpose(1, 2), (2,)).transpose(1, 2).cpu())
    z = torch.randn((1 << 18) + 1, 33, 33, device="cuda", generator=g)  # 4 * (2^18 + 1) transpose tiles
    assert torch.equal(_run_layer_on_cuda(L.Permute((0, 2, 1)), z), z.transpose(1, 2).contiguous())


@needs_gpu
def test_elementwise_beyond_int32_elements():
    """64-bit indices: an add and a broadcast mul over more than 2^31 elements."""
    n = 33 * ((1 << 31) // 33 + 1)  # rows of 33, past 2^31 in all
    free, _ = torch.cuda.mem_get_info()
    if free < 3 * n * 4 + (1 << 30):
        pytest.skip(f"needs {3 * n * 4 / 2**30:.1f} GiB of free GPU memory")
    L = ai3.layers
    a = torch.rand(n, device="cuda")
    b = torch.rand(33, device="cuda")
    out = _run_layer_on_cuda(L.Mul(), a.view(-1, 33), b)
    assert torch.equal(out.view(-1), (a.view(-1, 33) * b).view(-1))
    del out
    c = _run_layer_on_cuda(L.Add(), a, a)
    assert torch.equal(c[-100:], a[-100:] * 2) and torch.equal(c[:100], a[:100] * 2)


@needs_gpu
@pytest.mark.parametrize("name,kw,size", GRAPH_MODELS, ids=[m[0] for m in GRAPH_MODELS])
def test_swap_backend_graph_models_on_cuda_match_torch(name, kw, size, exact_torch):
    from test_models import GRAPH_ATEN, make

    model = make(name, kw, size).cuda()
    x = randn(2, 3, size, size, seed=1)
    with torch.no_grad():
        expected = model(x.cuda()).cpu()
    fast = ai3.swap_backend(model, sample_input_shape=(1, 3, size, size))  # follows the CUDA parameters
    assert fast.device.backend == "cuda"
    assert not any(layer.op == "torch" for layer in fast.layers)
    with forbid_torch_ops(GRAPH_ATEN):
        out = fast(x.cuda())
    assert out.device.type == "cuda"
    assert_network_close(out.cpu(), expected, msg=name)
    assert_network_close(fast(x), expected, msg=f"{name}, CPU input")


@needs_gpu
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "convnext_tiny"])
def test_swap_backend_float64_models_on_cuda(name):
    from test_models import make

    model = make(name, {}, 32).double()
    x = randn(2, 3, 32, 32, dtype=torch.float64, seed=1)
    with torch.no_grad():
        expected = model(x)
    fast = ai3.swap_backend(model, sample_input_shape=(1, 3, 32, 32), device="cuda")
    assert_network_close(fast(x.cuda()).cpu(), expected, msg=name)


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_functional_graph_ops_on_cuda(dtype):
    """Constants, keepdim means, permutes, chunks and view(x.size(0), -1) of one block, on CUDA."""
    from test_graph_ops import SE

    m = SE().to(dtype).eval()
    x = randn(3, 4, 5, 5, dtype=dtype)
    with torch.no_grad():
        expected = m(x)
    fast = ai3.swap_backend(m, sample_input_shape=(1, 4, 5, 5), device="cuda")
    assert_network_close(fast(x.cuda()).cpu(), expected)


class TorchNodes(nn.Module):
    """Nodes ai3 has no kernel for, one a module with a parameter and one a function of a parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.PReLU(4, init=0.3)
        self.slope = nn.Parameter(torch.rand(4) * 0.5)

    def forward(self, x):
        y = self.act(self.conv(x))
        return F.prelu(y, self.slope) + torch.tanh(y)


@needs_gpu
def test_torch_nodes_of_a_cuda_network_run_inside_a_cuda_graph(exact_torch):
    """unsupported="torch" on a network on the GPU: its torch nodes get host copies (and their
    modules and parameters on the CPU), the rest runs on CUDA."""
    m = TorchNodes().cuda().eval()
    x = randn(2, 3, 8, 8).cuda()
    with torch.no_grad():
        expected = m(x).cpu()
    fast = ai3.swap_backend(m, unsupported="torch")
    assert fast.device.backend == "cuda"
    assert [layer.op for layer in fast.layers].count("torch") == 3
    assert_network_close(fast(x).cpu(), expected)


def test_models_benchmark_script_parses_and_explains_a_missing_gpu():
    script = REPO / "benchmarks" / "cuda_models.py"
    for bad, text in [(["--algorithm", "nope"], "unknown conv2d algorithm 'nope'"),
                      (["--models", "resnet50", "no_such_net"], "unknown torchvision model(s): no_such_net"),
                      (["--batches", "0"], "must be positive")]:
        r = subprocess.run([sys.executable, str(script), *bad], capture_output=True, text=True, timeout=120, cwd="/")
        assert r.returncode == 2 and text in r.stderr and "Traceback" not in r.stderr, (bad, r.stderr)
    if not HAVE_GPU:
        r = subprocess.run([sys.executable, str(script), "--models", "vgg16"], capture_output=True, text=True,
                           timeout=120, cwd="/")
        assert r.returncode == 1 and "needs a CUDA GPU" in r.stderr and "Traceback" not in r.stderr


def test_gpu_check_script_parses():
    """benchmarks/cuda_check.sh (build, GPU tests, models check in one go) is valid bash."""
    r = subprocess.run(["bash", "-n", str(REPO / "benchmarks" / "cuda_check.sh")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
