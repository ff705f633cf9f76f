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
from ai3.devices import cuda_unusable_reason
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
    """Only winograd refuses, and only outside 3x3/stride 1/dilation 1 (DESIGN.md): where cuDNN
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
@pytest.mark.parametrize("algo", ["direct", "smm", "gemm", "implicit gemm", "implicit precomp gemm", "guess", "default"])
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
