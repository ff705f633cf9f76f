"""``python -m ai3 info`` and the module-level API surface."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import ai3


def test_python_m_ai3_info_prints_backends():
    r = subprocess.run([sys.executable, "-m", "ai3", "info"], capture_output=True, text=True, timeout=120,
                       cwd="/")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "backends:" in out and "devices:" in out
    for name, status in ai3.backend_status().items():
        assert name in out and status in out, (name, status)
    for d in ai3.devices():
        assert d.name in out
    assert "conv2d" in out and "direct" in out
    assert ai3.__version__ in out


_REQUIRED = [b for b in os.environ.get("AI3_REQUIRE_BACKENDS", "").split(",") if b]


@pytest.mark.skipif(not _REQUIRED, reason="AI3_REQUIRE_BACKENDS not set (docker/build-and-test.sh sets it per variant)")
@pytest.mark.parametrize("backend", _REQUIRED)
def test_required_backends_built_and_usable(backend):
    """A CI variant's own backends: built, with a device, running a conv that matches torch
    (so the variant cannot pass by skipping its backend's tests)."""
    name = backend.removesuffix("-built")
    status = ai3.backend_status().get(name, "missing")
    assert status.startswith("built"), f"the {name} backend is required here but is '{status}'"
    if backend.endswith("-built"):
        return  # compiled only: no device is expected (a CUDA build on a machine without a GPU)
    devs = [d for d in ai3.devices() if d.backend == name]
    assert devs, f"the {name} backend built but offers no device here: {[d.name for d in ai3.devices()]}"
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.randn(1, 3, 8, 8)
    model = ai3.swap_backend(torch.nn.Sequential(conv), device=devs[0].name)
    with torch.no_grad():
        torch.testing.assert_close(model(x), conv(x), atol=1e-4, rtol=1e-4)


def test_python_m_ai3_without_command_fails_cleanly():
    r = subprocess.run([sys.executable, "-m", "ai3"], capture_output=True, text=True, timeout=120, cwd="/")
    assert r.returncode != 0 and "usage" in (r.stderr + r.stdout).lower()
    assert "Traceback" not in r.stderr


def test_supported_algorithms_is_the_published_table():
    assert ai3.SUPPORTED_ALGORITHMS == {
        'conv2d': ['direct', 'smm', 'winograd', 'gemm', 'implicit gemm', 'implicit precomp gemm', 'guess', 'mps',
                   'metal', 'default'],
        'linear': ['direct', 'default'],
        'maxpool2d': ['direct', 'default'],
        'avgpool2d': ['direct', 'default'],
        'adaptiveavgpool2d': ['direct', 'default'],
        'relu': ['direct', 'default'],
        'flatten': ['direct', 'default'],
        # the graph form's operations (issue 7)
        **{op: ['direct', 'default'] for op in (
            'batchnorm2d', 'add', 'mul', 'cat', 'split', 'relu6', 'hardswish', 'hardsigmoid', 'silu', 'sigmoid',
            'gelu', 'layernorm', 'permute', 'reshape', 'mean')},
    }


def test_public_names():
    for name in ("swap_conv2d", "swap_backend", "Model", "Tensor", "SUPPORTED_ALGORITHMS", "FROM_BACKEND",
                 "using_sycl", "using_cudnn", "using_cublas", "using_mps_and_metal", "AlgorithmicSelector"):
        assert hasattr(ai3, name), name
    for b in (ai3.using_sycl(), ai3.using_cudnn(), ai3.using_cublas(), ai3.using_mps_and_metal()):
        assert isinstance(b, bool)
    assert [d.name for d in ai3.devices()][0] == "cpu" or any(d.name == "cpu" for d in ai3.devices())


_LAZY_SYCL = """
import json, os, sys
import torch
from torch import nn
import ai3
from ai3 import _sycl_backend
_sycl_backend._GPU_NODES = ()  # as on a machine without GPU device nodes
measured = sys.argv[1]
if measured != "none":
    with open(os.path.join(os.environ["AI3_CACHE_DIR"], "sycl-measurements.json"), "w") as f:
        json.dump({"cpu": 1.0, "opencl:cpu:0": 0.5 if measured == "sycl-faster" else 2.0}, f)
m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
model = ai3.swap_backend(m)
x = torch.randn(1, 3, 8, 8)
assert torch.allclose(model(x), m(x), atol=1e-5)
print(json.dumps({"device": model.device.backend, "sycl_loaded": "ai3._sycl" in sys.modules}))
"""


def _lazy_sycl_run(measured: str, tmp_path) -> dict:
    import json
    import os

    env = dict(os.environ, AI3_CACHE_DIR=str(tmp_path))
    env.pop("AI3_DEVICE", None)
    r = subprocess.run([sys.executable, "-c", _LAZY_SYCL, measured], capture_output=True, text=True, timeout=300,
                       cwd="/", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_cpu_model_does_not_load_the_sycl_runtime_without_gpus(tmp_path):
    # The SYCL runtime costs ~100 MiB of resident memory; a CPU model only loads it when a
    # SYCL device could be picked: a GPU could exist, or a SYCL CPU device was measured faster.
    assert _lazy_sycl_run("none", tmp_path) == {"device": "cpu", "sycl_loaded": False}
    assert _lazy_sycl_run("fallback-faster", tmp_path) == {"device": "cpu", "sycl_loaded": False}


def test_cpu_model_loads_sycl_when_it_was_measured_faster(tmp_path):
    from ai3 import _sycl_backend

    if not _sycl_backend.sycl_devices() or "opencl:cpu:0" not in [d.name for d in _sycl_backend.sycl_devices()]:
        import pytest

        pytest.skip("needs the SYCL opencl:cpu:0 device")
    assert _lazy_sycl_run("sycl-faster", tmp_path) == {"device": "sycl", "sycl_loaded": True}


# ---- the command line explains itself ------------------------------------------------------------

def _cli(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "ai3", *args], capture_output=True, text=True, timeout=120, cwd="/")
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_help_is_plain_text_with_defaults():
    for args in (("--help",), ("info", "--help"), ("bench", "--help")):
        out = _cli(*args)
        assert "``" not in out and ":func:" not in out, out
    bench_help = " ".join(_cli("bench", "--help").split())  # argparse wraps lines
    for shown in ("(default: vgg16)", "(default: 224)", "(default: float32)", "(default: 5)", "(default: cpu)"):
        assert shown in bench_help, shown
    assert "(default: None)" not in bench_help and "(default: False)" not in bench_help


def test_info_names_the_runtime_it_loaded():
    out = _cli("info")
    for status in ai3.backend_status().values():
        for word in status.replace("(", " ").replace(")", " ").replace(",", " ").split():
            if word.startswith("/"):  # a path in a build status must still exist (no deleted build env)
                assert os.path.exists(word), status
    if ai3.using_sycl():
        line = next(x for x in out.splitlines() if x.startswith("sycl runtime: "))
        lib = line.split()[2]
        assert os.path.exists(lib) and "libsycl" in os.path.basename(lib), line


def test_info_short_is_one_line():
    out = _cli("info", "--short").strip()
    assert "\n" not in out
    assert ai3.__version__ in out and f"{ai3.get_num_threads()} threads" in out
    for d in ai3.devices():
        assert d.name in out


class _Dist:
    def __init__(self, text):
        self.text = text

    def read_text(self, name):
        assert name == "direct_url.json"
        return self.text


@pytest.mark.parametrize("how", ["checkout", "elsewhere", "index", "archive"])
def test_install_hints_match_how_ai3_was_installed(how, monkeypatch, tmp_path):
    from ai3 import _install

    (tmp_path / "pyproject.toml").write_text("")
    url = {"checkout": f'{{"url": "file://{tmp_path}", "dir_info": {{}}}}',
           "elsewhere": f'{{"url": "file://{tmp_path}", "dir_info": {{}}}}',
           "index": None,
           "archive": '{"url": "https://example.org/ai3-0.1.0.tar.gz", "archive_info": {}}'}[how]
    monkeypatch.setattr(_install.metadata, "distribution", lambda name: _Dist(url))
    monkeypatch.chdir(tmp_path if how == "checkout" else "/")
    expected = {"checkout": "pip install '.[sycl]'", "elsewhere": f"pip install '{tmp_path}[sycl]'",
                "index": "pip install 'ai3[sycl]'", "archive": "pip install 'ai3[sycl]'"}[how]
    assert _install.install_command("sycl") == expected
