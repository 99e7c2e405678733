"""Step bodies and body wrappers for the executor tests (importable by the workers)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

ACTIVE: list[str] = []  # the wrappers entered, innermost last (per process)


class Recording:
    """A picklable body wrapper: notes where it was entered and exited, in a file."""

    def __init__(self, name: str, log: str) -> None:
        self.name = name
        self.log = log

    def __call__(self) -> Recording:
        return self

    def __enter__(self) -> None:
        ACTIVE.append(self.name)
        self._write("enter")

    def __exit__(self, *exc_info: object) -> None:
        self._write("exit")
        ACTIVE.remove(self.name)

    def _write(self, what: str) -> None:
        with Path(self.log).open("a") as log:
            log.write(f"{what} {self.name} {os.getpid()}\n")


def where(step: Any) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "thread": threading.current_thread().name,
        "at": time.time(),
        "wrappers": list(ACTIVE),
    }


def fails(step: Any) -> None:
    time.sleep(0.01)
    raise ValueError("the body failed")


def sleeps(step: Any) -> None:
    time.sleep(60)


def broken_wrapper() -> Any:
    raise RuntimeError("the wrapper broke")
