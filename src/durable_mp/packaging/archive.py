"""The zip Lambda unpacks into ``/var/task``: compiled once, files readable by its user."""

from __future__ import annotations

import compileall
import os
import py_compile
import sys
import zipfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # the same inputs make the same zip


def compile_for(staging: Path, python: str) -> bool:
    """Byte-compile when this interpreter is the bundle's Python: Lambda's code directory is
    read-only, so modules without ``.pyc`` are compiled again at every cold start. Hash-based
    ``.pyc`` files stay valid however the zip tool sets file times. False if skipped."""
    if python != f"{sys.version_info.major}.{sys.version_info.minor}":
        return False
    compileall.compile_dir(
        staging, quiet=2, workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return True


def write_zip(staging: Path, output: Path) -> int:
    """Zip ``staging`` into ``output`` (sorted, fixed times, modes kept); its size in bytes."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(staging.rglob("*")):
            if path.is_dir() or path.is_symlink():
                continue
            info = zipfile.ZipInfo(str(path.relative_to(staging)), FIXED_TIME)
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as source, archive.open(info, "w") as target:
                while chunk := source.read(1 << 20):
                    target.write(chunk)
    partial.replace(output)
    return output.stat().st_size
