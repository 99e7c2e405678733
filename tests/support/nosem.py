"""A process environment without POSIX named semaphores, like AWS Lambda's sandbox.

``build_nosem_shim`` compiles a shared library whose ``sem_open`` fails with ENOSYS; run a
subprocess with ``LD_PRELOAD=<that path>`` and ``multiprocessing.Lock()`` (and everything
built on it) raises, while ``Process`` and ``Pipe`` keep working.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

NOSEM_SOURCE = """\
#include <semaphore.h>
#include <errno.h>
sem_t *sem_open(const char *name, int oflag, ...) { errno = ENOSYS; return SEM_FAILED; }
"""


def build_nosem_shim(tmp_dir: Path) -> Path:
    """Compile ``libnosem.so`` in ``tmp_dir`` and return its path."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    assert compiler, "no C compiler (gcc or cc) to build the semaphore-less shim"
    source = tmp_dir / "nosem.c"
    source.write_text(NOSEM_SOURCE)
    library = tmp_dir / "libnosem.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-o", str(library), str(source)],
        check=True,
        capture_output=True,
    )
    return library


def nosem_env(library: Path, base: dict[str, str]) -> dict[str, str]:
    """``base`` with ``library`` preloaded (ahead of anything already preloaded)."""
    env = dict(base)
    preload = env.get("LD_PRELOAD")
    env["LD_PRELOAD"] = f"{library}:{preload}" if preload else str(library)
    return env
