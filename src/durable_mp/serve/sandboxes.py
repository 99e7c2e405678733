"""Sandboxes for every served function: at most N alive, started on demand, reused warm.

Each function has its own sandboxes, as on Lambda. A request takes an idle sandbox of its
function (the most recently used: the warmest) or starts one; at the limit it evicts the
least recently used idle sandbox of another function, or waits for one to come free, as a
function at its concurrency limit would queue. A sandbox that died (timeout, out of
memory, runtime exit) is dropped; the next request starts a fresh one.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING

from durable_mp.sandbox import InitFailed, InvokeResult, Sandbox

if TYPE_CHECKING:
    from durable_mp.sandbox import FunctionConfig


class PoolClosed(Exception):
    """``serve`` is shutting down."""


class SandboxPool:
    def __init__(self, functions: dict[str, FunctionConfig], size: int) -> None:
        self.functions = functions
        self._size = size
        self._lock = threading.Condition()
        self._idle: list[tuple[str, Sandbox]] = []  # least recently used first
        self._live: set[Sandbox] = set()
        self._starting = 0
        self._closed = False

    def start_first(self, name: str) -> None:
        """Start one sandbox of ``name`` now (``InitFailed`` if it does not come up)."""
        sandbox = self._acquire(name)[0]
        self._release(name, sandbox)

    def invoke(
        self, name: str, payload: bytes, request_id: str, *, function_arn: str,
        trace_id: str | None = None, client_context: str | None = None,
    ) -> InvokeResult:
        config = self.functions[name]
        started = time.monotonic()
        try:
            sandbox, spent = self._acquire(name)
        except InitFailed as failure:
            return InvokeResult(failure.reply, (time.monotonic() - started) * 1000,
                                failure.init_duration_ms, None, True)
        try:
            return sandbox.invoke(
                payload, request_id, function_arn=function_arn, trace_id=trace_id,
                client_context=client_context, timeout=max(0.001, config.timeout - spent),
            )
        finally:
            self._release(name, sandbox)

    def close(self) -> None:
        """Kill every sandbox, idle or busy."""
        with self._lock:
            self._closed = True
            sandboxes = list(self._live)
            self._idle.clear()
            self._lock.notify_all()
        for sandbox in sandboxes:
            sandbox.kill()

    def _acquire(self, name: str) -> tuple[Sandbox, float]:
        """A sandbox of ``name``, warm or fresh, and the seconds of the invocation's timeout
        already spent: those of an INIT retried after an INIT timeout, as on Lambda (a
        first INIT does not count against the function's timeout)."""
        evicted: Sandbox | None = None
        with self._lock:
            while True:
                if self._closed:
                    raise PoolClosed()
                mine = [pair for pair in self._idle if pair[0] == name]
                if mine:
                    pair = mine[-1]
                    self._idle.remove(pair)
                    if pair[1].alive:
                        return pair[1], 0.0
                    self._live.discard(pair[1])
                    pair[1].kill()
                    continue
                if len(self._live) + self._starting < self._size:
                    break
                if self._idle:
                    _, evicted = self._idle.pop(0)
                    self._live.discard(evicted)
                    break
                self._lock.wait()
            self._starting += 1
        if evicted is not None:
            evicted.kill()
        try:
            sandbox, spent = self._start(name)
        finally:
            with self._lock:
                self._starting -= 1
                self._lock.notify_all()
        with self._lock:
            if not self._closed:
                self._live.add(sandbox)
                return sandbox, spent
        sandbox.kill()
        raise PoolClosed()

    def _start(self, name: str) -> tuple[Sandbox, float]:
        config = self.functions[name]
        try:
            return Sandbox.start(config), 0.0
        except InitFailed as failure:
            if not failure.timed_out:
                raise
            _log(f"INIT_REPORT Init Duration: {failure.init_duration_ms:.2f} ms\t"
                 f"Phase: init\tStatus: timeout\tFunction: {name}")
        retried = time.monotonic()  # Lambda's second try, within the invocation's timeout
        sandbox = Sandbox.start(config, init_timeout=config.timeout)
        return sandbox, time.monotonic() - retried

    def _release(self, name: str, sandbox: Sandbox) -> None:
        with self._lock:
            if sandbox in self._live and sandbox.alive and not self._closed:
                self._idle.append((name, sandbox))
                self._lock.notify_all()
                return
            self._live.discard(sandbox)
            self._lock.notify_all()
        sandbox.kill()


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
