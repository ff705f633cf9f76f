"""ai3's exception types.

Each subclasses the built-in exception a Python user would expect (``ValueError``
for bad values and shapes, ``TypeError`` for dtypes, ``NotImplementedError`` for
what ai3 does not do, ``RuntimeError`` for device and backend failures), so
``except ValueError`` keeps working, while ``except ai3.Ai3Error`` catches all.
The C++ core raises these same classes.
"""

from __future__ import annotations


class Ai3Error(Exception):
    """Base class of every error ai3 raises on purpose."""


class InvalidInputError(Ai3Error, ValueError):
    """A shape, size or hyper-parameter that the operation cannot take."""


class UnknownAlgorithmError(Ai3Error, ValueError):
    """An algorithm name that is not one of the operation's algorithms."""


class SelectorError(Ai3Error, ValueError):
    """An algorithmic selector that cannot be applied (wrong length, bad callable...)."""


class DTypeError(Ai3Error, TypeError):
    """A dtype ai3 does not support here, or one that does not match the layer's."""


class UnsupportedError(Ai3Error, NotImplementedError):
    """Something ai3 does not implement: a module, a function, or an
    (operation, algorithm, backend, dtype) combination without a kernel."""


class DeviceError(Ai3Error, RuntimeError):
    """A device that does not exist here, or a backend this build does not have."""


class BackendError(Ai3Error, RuntimeError):
    """A failure inside a backend while running."""


__all__ = [
    "Ai3Error",
    "InvalidInputError",
    "UnknownAlgorithmError",
    "SelectorError",
    "DTypeError",
    "UnsupportedError",
    "DeviceError",
    "BackendError",
]
