"""Package-wide settings users change at run time, in one leaf module that any part of
ai3 can read without importing the package itself. ``ai3.FROM_BACKEND`` reads and
writes :data:`FROM_BACKEND` here (see ``ai3/__init__.py``)."""

from __future__ import annotations

from typing import Optional

#: The backend of the existing DNN. If None, the backend will be inferred from the
#: type of the input to the swapping functions. Only None and "torch" are valid.
FROM_BACKEND: Optional[str] = None
