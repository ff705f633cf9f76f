"""``python -m ai3 info`` and the module-level API surface."""

from __future__ import annotations

import subprocess
import sys

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
