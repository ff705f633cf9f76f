"""The operations ai3 swaps and the names of their algorithms."""

from __future__ import annotations

import sys
from typing import Dict, List

from .errors import UnknownAlgorithmError, UnsupportedError

#: The supported operations and their supported algorithms (the published API's table).
SUPPORTED_ALGORITHMS: Dict[str, List[str]] = {
    "conv2d": [
        "direct",
        "smm",
        "winograd",
        "gemm",
        "implicit gemm",
        "implicit precomp gemm",
        "guess",
        "mps",
        "metal",
        "default",
    ],
    "linear": ["direct", "default"],
    "maxpool2d": ["direct", "default"],
    "avgpool2d": ["direct", "default"],
    "adaptiveavgpool2d": ["direct", "default"],
    "relu": ["direct", "default"],
    "flatten": ["direct", "default"],
    # The graph form's operations (swap_backend on residual, concatenating and depthwise networks).
    "batchnorm2d": ["direct", "default"],
    "add": ["direct", "default"],
    "mul": ["direct", "default"],
    "cat": ["direct", "default"],
    "split": ["direct", "default"],
    "relu6": ["direct", "default"],
    "hardswish": ["direct", "default"],
    "hardsigmoid": ["direct", "default"],
    "silu": ["direct", "default"],
    "sigmoid": ["direct", "default"],
    "gelu": ["direct", "default"],
    "layernorm": ["direct", "default"],
    "permute": ["direct", "default"],
    "reshape": ["direct", "default"],
    "mean": ["direct", "default"],
}

#: Algorithms that only the Apple backend can run.
APPLE_ALGORITHMS = ("mps", "metal")


def check_algorithm(op: str, algorithm: object) -> str:
    """Return ``algorithm`` if it names one of ``op``'s algorithms, else raise.

    Raises :class:`UnknownAlgorithmError` listing the valid names, or
    :class:`UnsupportedError` for ``mps``/``metal`` off macOS.
    """
    if op not in SUPPORTED_ALGORITHMS:
        raise UnsupportedError(
            f"ai3 has no operation {op!r}; supported operations: {', '.join(SUPPORTED_ALGORITHMS)}"
        )
    valid = SUPPORTED_ALGORITHMS[op]
    if not isinstance(algorithm, str):
        raise UnknownAlgorithmError(
            f"algorithm for {op} must be a string, got {type(algorithm).__name__} {algorithm!r}; "
            f"valid algorithms: {', '.join(map(repr, valid))}"
        )
    if algorithm not in valid:
        raise UnknownAlgorithmError(
            f"unknown {op} algorithm {algorithm!r}; valid algorithms: {', '.join(map(repr, valid))}"
        )
    if algorithm in APPLE_ALGORITHMS and sys.platform != "darwin":
        raise UnsupportedError(
            f"{op} algorithm {algorithm!r} runs on Apple GPUs through ai3's MPS/Metal backend, "
            f"which needs macOS (this is {sys.platform})"
        )
    if algorithm in APPLE_ALGORITHMS:
        raise UnsupportedError(
            f"{op} algorithm {algorithm!r} needs ai3's MPS/Metal backend, which this build does not include"
        )
    return algorithm
