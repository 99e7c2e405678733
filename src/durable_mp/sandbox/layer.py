"""The runtime layer: AWS's runtime interface client, alone in a directory of its own.

On Lambda the runtime (``/var/runtime``) brings ``awslambdaric``; the function's bundle
brings everything else. A *bare* sandbox gets exactly that: the bundle, and a directory
of links to the installed ``awslambdaric`` and what it needs, nothing more. Its Python is
an empty virtual environment of this interpreter, so the processes the handler starts
(step workers, which ignore ``-S``) see no site-packages either.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import re
import tempfile
import threading
import venv
from pathlib import Path

CLIENT = "awslambdaric"
_lock = threading.Lock()
_layer: Path | None = None


class RuntimeClientMissing(Exception):
    """awslambdaric is not installed in this environment."""

    def __init__(self) -> None:
        super().__init__(
            "AWS's runtime interface client is not installed; pip install awslambdaric "
            "(or durable-mp[serve])"
        )


def ensure_client() -> None:
    try:
        importlib.metadata.distribution(CLIENT)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeClientMissing() from None


def runtime_layer() -> Path:
    """A directory holding links to awslambdaric and its dependencies (made once)."""
    global _layer  # noqa: PLW0603 - one layer per process
    with _lock:
        if _layer is not None and _layer.is_dir():
            return _layer
        ensure_client()
        layer = Path(tempfile.mkdtemp(prefix="durable-mp-runtime-"))
        layer.chmod(0o755)
        packages = layer / "packages"
        packages.mkdir()
        for top in sorted(_top_level_paths(CLIENT, set())):
            link = packages / top.name
            with contextlib.suppress(FileExistsError):
                link.symlink_to(top)
        venv.EnvBuilder(symlinks=True, with_pip=False, clear=True).create(layer / "python")
        _layer = layer
        return layer


def layer_packages(layer: Path) -> Path:
    """The directory to put on ``PYTHONPATH``: awslambdaric and its dependencies."""
    return layer / "packages"


def layer_python(layer: Path) -> str:
    """An interpreter with nothing installed (an empty virtual environment)."""
    return str(layer / "python" / "bin" / "python3")


def _top_level_paths(name: str, seen: set[str]) -> set[Path]:
    """The installed top-level modules and packages of ``name`` and its requirements."""
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen:
        return set()
    seen.add(key)
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return set()
    found: set[Path] = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first.endswith((".dist-info", ".egg-info")) or first in ("..", "__pycache__"):
            continue
        found.add(Path(str(dist.locate_file(first))).resolve())
    for requirement in dist.requires or []:
        if "extra ==" in requirement:
            continue
        dependency = re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]
        found |= _top_level_paths(dependency, seen)
    return found
