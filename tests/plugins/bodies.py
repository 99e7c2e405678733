"""Step bodies and worker contexts for the plugin tests (importable by worker processes)."""

from __future__ import annotations

import os
import time
from typing import Any


def timed(step: Any) -> dict[str, Any]:
    """Where and when it ran, measured in the body itself."""
    started = time.time()
    time.sleep(0.05)
    return {"pid": os.getpid(), "started": started, "ended": time.time()}


def sleepy(step: Any) -> str:
    time.sleep(2.5)
    return "slept"


class ReportingContext:
    """A plugin's worker context: notes the pid it ran in and reports it."""

    def __call__(self) -> ReportingContext:
        return self

    def __enter__(self) -> None:
        self.entered_in = os.getpid()

    def __exit__(self, *exc_info: object) -> bool:
        self.exited = True
        return True  # a context that would swallow the body's error: it must not

    def worker_report(self) -> dict[str, Any]:
        return {"pid": self.entered_in, "exited": self.exited}


class BrokenContext:
    """Fails where it says: 'create', 'enter', 'exit' or 'report'."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __call__(self) -> BrokenContext:
        if self.where == "create":
            raise RuntimeError("broken on create")
        return self

    def __enter__(self) -> None:
        if self.where == "enter":
            raise RuntimeError("broken on enter")

    def __exit__(self, *exc_info: object) -> None:
        if self.where == "exit":
            raise RuntimeError("broken on exit")

    def worker_report(self) -> Any:
        if self.where == "report":
            raise RuntimeError("broken on report")
        return None


def fails(step: Any) -> None:
    raise ValueError("the body failed")
