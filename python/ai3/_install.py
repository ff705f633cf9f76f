"""How to install one of ai3's extras, as this installation of ai3 was made: from a source
checkout (pip records it in ``direct_url.json``, PEP 610) or from a package index."""

from __future__ import annotations

import json
import os
import urllib.parse
from importlib import metadata
from pathlib import Path
from typing import Optional


def source_checkout() -> Optional[Path]:
    """The source directory this ai3 was ``pip install``-ed from, if it still exists."""
    try:
        text = metadata.distribution("ai3").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        info = json.loads(text or "{}")
    except ValueError:
        return None
    url = info.get("url", "")
    if "dir_info" not in info or not url.startswith("file://"):
        return None
    path = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))
    return path if (path / "pyproject.toml").is_file() else None


def install_command(extra: str) -> str:
    """The ``pip install`` command that adds ``extra`` to this installation."""
    src = source_checkout()
    if src is None:
        return f"pip install 'ai3[{extra}]'"
    try:
        here = Path(os.getcwd()).resolve() == src.resolve()
    except OSError:
        here = False
    return f"pip install '.[{extra}]'" if here else f"pip install '{src}[{extra}]'"
