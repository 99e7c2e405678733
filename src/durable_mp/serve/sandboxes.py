"""Up to N sandboxes, started on demand, each serving one invocation at a time.

A request waits for a free sandbox, as a Lambda function at its concurrency limit would
queue. The most recently used sandbox is reused first (it is the warmest). A sandbox
whose runtime died is dropped; the next request that needs one starts a fresh runtime.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from durable_mp.serve.sandbox import Sandbox, SandboxFailed

if TYPE_CHECKING:
    from collections.abc import Sequence

    from durable_mp.serve.lambda_errors import Reply


class PoolClosed(Exception):
    """``serve`` is shutting down."""


class SandboxPool:
    def __init__(
        self,
        entries: Sequence[str],
        size: int,
        *,
        executor: str | None = None,
        workers: int | None = None,
        timeout: float = 900.0,
        plain: Sequence[str] = (),
    ) -> None:
        self._entries = list(entries)
        self._plain = list(plain)
        self._size = size
        self._executor = executor
        self._workers = workers
        self.timeout = timeout
        self._lock = threading.Condition()
        self._idle: list[Sandbox] = []
        self._live: set[Sandbox] = set()
        self._starting = 0
        self._closed = False

    def start_first(self) -> list[str]:
        """Start one sandbox now, to check the targets and learn the function names."""
        sandbox = self._acquire()
        self._release(sandbox)
        return sandbox.functions

    def invoke(self, function: str, context: dict[str, Any], payload: bytes) -> Reply:
        try:
            sandbox = self._acquire()
        except SandboxFailed as error:
            return error.reply(str(context["aws_request_id"]))
        try:
            return sandbox.invoke(function, context, payload, self.timeout)
        finally:
            self._release(sandbox)

    def close(self, grace: float = 5.0) -> None:
        """Stop every runtime (idle or busy); kill those still alive after ``grace``."""
        with self._lock:
            self._closed = True
            sandboxes = list(self._live)
            self._idle.clear()
            self._lock.notify_all()
        for sandbox in sandboxes:
            sandbox.terminate()
        deadline = time.monotonic() + grace
        for sandbox in sandboxes:
            sandbox.wait(deadline)

    def _acquire(self) -> Sandbox:
        with self._lock:
            while True:
                if self._closed:
                    raise PoolClosed()
                while self._idle:
                    sandbox = self._idle.pop()
                    if sandbox.alive:
                        return sandbox
                    self._live.discard(sandbox)
                    sandbox.kill()  # already exited; reap it and sweep its group
                if len(self._live) + self._starting < self._size:
                    self._starting += 1
                    break
                self._lock.wait()
        try:
            sandbox = Sandbox.start(self._entries, self._executor, self._workers, self._plain)
        except BaseException:
            with self._lock:
                self._starting -= 1
                self._lock.notify()
            raise
        with self._lock:
            self._starting -= 1
            if not self._closed:
                self._live.add(sandbox)
                return sandbox
        sandbox.kill()
        raise PoolClosed()

    def _release(self, sandbox: Sandbox) -> None:
        with self._lock:
            if sandbox in self._live and sandbox.alive and not self._closed:
                self._idle.append(sandbox)
                self._lock.notify()
                return
            self._live.discard(sandbox)
            self._lock.notify()
        if not self._closed:
            sandbox.kill()  # a dead runtime: reap it and sweep its process group
