"""The dispatch loop behind ``LocalRunner.drive``: one execution tree to its end.

The tree is the root execution and the child executions its running chained invokes
wait for, down through running parents. Every invocation, and every call of a plain
target, runs on its own thread, so a parent and its children progress together; the
loop only dispatches and waits. The loop keeps no state that the store does not have:
each round it asks the service what needs an invocation, which plain calls are owed and
when the next timer is due, so changes made by another process (a callback completed
with ``durable-mp callback``, a ``durable-mp stop``) are noticed within one poll.

A drive owns what it drives (:mod:`durable_mp.local.leases`): the root's lease before
anything else, each child's before invoking it, all given up when it returns. Stopped by
an exception (Ctrl-C), it abandons its invocations and records the unfinished ones as
interrupted.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from durable_mp.local.abandon import Abandonment
from durable_mp.local.errors import ExecutionNotRunningError
from durable_mp.local.leases import DriveLeases
from durable_mp.local.records import FAILED, SUCCEEDED

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from durable_mp.local.invoke import PendingCall
    from durable_mp.local.owners import Owner
    from durable_mp.local.records import ExecutionRecord
    from durable_mp.local.service import LocalService

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.2  # how soon another process's change is noticed while nothing is due

Key = tuple[str, ...]  # ("invoke", arn) or ("call", arn, operation id)


class Invoker(Protocol):
    """What the loop needs of its runner (``LocalRunner``): the service and how to invoke."""

    service: LocalService
    fast_forward: bool
    lease_seconds: float
    fast_forward_timeout: bool

    def invoke_once(
        self, arn: str, *, abandonment: Abandonment | None = None, owner: Owner | None = None
    ) -> Mapping[str, Any]: ...

    def call_plain(self, call: PendingCall, *, abandonment: Abandonment | None = None) -> bool: ...


class Drive:
    """One ``drive`` call: what is in flight, and the loop that decides what runs next."""

    def __init__(
        self,
        runner: Invoker,
        root: str,
        *,
        wait: bool = False,
        on_owned: Callable[[], object] | None = None,
    ) -> None:
        self._runner = runner
        self._service = runner.service
        self._root = root
        self._wait = wait
        self._on_owned = on_owned
        self._lock = threading.Lock()
        self._inflight: dict[Key, threading.Thread] = {}
        self._parents: dict[str, str] = {}  # child execution -> the one whose invoke it runs
        self._changed = threading.Event()
        self._failure: BaseException | None = None
        self._abandonment = Abandonment()
        self._leases = DriveLeases(self._service, runner.lease_seconds, self._fail)

    def run(self, until: Callable[[ExecutionRecord], bool] | None) -> ExecutionRecord:
        record = self._service.get_execution(self._root)
        if record.is_terminal:
            return record
        ended = self._leases.take_root(self._root, wait=self._wait)
        if ended is not None:
            return ended
        self._leases.start_renewing()
        try:
            if self._on_owned is not None:
                self._on_owned()
            return self._loop(until)
        except BaseException as error:
            # Ctrl-C, a crash: what still runs must not write (as if this process died),
            # and what it had begun is recorded as interrupted, not failed.
            self._interrupt(error)
            raise
        finally:
            self._leases.stop_renewing()
            self._leases.release()

    def _fail(self, error: BaseException) -> None:
        """Stop the loop with ``error`` (from another thread)."""
        with self._lock:
            self._failure = self._failure or error
        self._changed.set()

    def _interrupt(self, error: BaseException) -> None:
        why = _why(error)
        for invocation in self._abandonment.abandon():
            try:
                self._service.interrupt_invocation(invocation, why)
            except Exception:  # the store may be what failed; the next runner recovers it
                logger.debug(
                    "could not record %s as interrupted", invocation.request_id, exc_info=True
                )

    def _loop(self, until: Callable[[ExecutionRecord], bool] | None) -> ExecutionRecord:
        tree = self._tree()
        for arn in tree:
            self._leases.hold(arn)
        for arn in tree:
            self._service.catch_up_listeners(arn)
        while True:
            self._changed.clear()
            self._raise_failure()
            record = self._service.get_execution(self._root)
            if record.is_terminal:
                return self._ended(record)
            if until is not None and until(record):
                with self._lock:
                    running = list(self._inflight)
                self._join(running)
                self._raise_failure()
                return self._service.get_execution(self._root)
            tree = self._tree()
            if self._dispatch(tree):
                continue
            if self._runner.fast_forward and self._skip_ahead(tree):
                continue
            self._changed.wait(self._idle_seconds(tree))
            now = datetime.datetime.now(datetime.UTC)
            for arn in tree:
                wakeup = self._service.next_wakeup(arn)
                # Not while an invocation runs: its own calls fire what falls due while it
                # works, and its end is recorded before what became due after it answered.
                if wakeup is not None and wakeup <= now and not self._invoking(arn):
                    self._service.fire_due_timers(arn)
                self._service.catch_up_listeners(arn)

    # -- what runs ----------------------------------------------------------------------

    def _tree(self) -> list[str]:
        """The root and, breadth first, the children its running invokes wait for."""
        tree, index = [self._root], 0
        while index < len(tree):
            children = self._service.running_children(tree[index])
            for child in children:
                self._parents[child] = tree[index]
            tree.extend(children)
            index += 1
        return tree

    def _invoking(self, arn: str) -> bool:
        with self._lock:
            return ("invoke", arn) in self._inflight

    def _held_back(self, arn: str) -> bool:
        """Fast-forward: a child waits until its caller's invocation has answered.

        Skipped time makes a child finish in no time, so its result could otherwise be
        recorded before the invocation that started it ends (never so on the service,
        where the child takes real time). Holding it back keeps that order every time.
        """
        parent = self._parents.get(arn)
        return self._runner.fast_forward and parent is not None and self._invoking(parent)

    def _dispatch(self, tree: list[str]) -> bool:
        """Start what has work and is not running yet; whether anything started."""
        started = False
        for arn in tree:
            if not self._leases.hold(arn) or self._held_back(arn):
                continue
            if ("invoke", arn) not in self._inflight and self._service.has_work(arn):
                self._start(("invoke", arn), partial(self._invoke, arn))
                started = True
            if self._runner.fast_forward and self._invoking(arn):
                continue  # its plain calls too wait for it to answer (see _held_back)
            for call in self._service.pending_calls(arn):
                key = pending_key(call)
                if key not in self._inflight:
                    self._start(
                        key, partial(self._runner.call_plain, call, abandonment=self._abandonment)
                    )
                    started = True
        return started

    def _invoke(self, arn: str) -> None:
        # It may end while the invocation is being opened (a timeout, a 5th failure).
        with contextlib.suppress(ExecutionNotRunningError):
            self._runner.invoke_once(
                arn, abandonment=self._abandonment, owner=self._leases.owner
            )

    def _start(self, key: Key, work: Callable[[], object]) -> None:
        thread = threading.Thread(
            target=self._run_one, args=(key, work), name=f"durable-mp-{key[0]}", daemon=True
        )
        with self._lock:
            self._inflight[key] = thread
        thread.start()

    def _run_one(self, key: Key, work: Callable[[], object]) -> None:
        try:
            work()
        except BaseException as error:  # surfaces from drive(), as if run on its thread
            self._fail(error)
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            self._changed.set()

    # -- waiting ------------------------------------------------------------------------

    def _skip_ahead(self, tree: list[str]) -> bool:
        """Fast-forward: fire the next skippable timer of each idle execution now."""
        fired = False
        for arn in tree:
            if ("invoke", arn) in self._inflight or not self._leases.holds(arn):
                continue
            if self._service.skip_ahead(arn, skip_timeout=self._runner.fast_forward_timeout):
                fired = True
        return fired

    def _idle_seconds(self, tree: list[str]) -> float:
        """Until the next timer is due, but never longer than one poll."""
        now = datetime.datetime.now(datetime.UTC)
        seconds = POLL_SECONDS
        for arn in tree:
            wakeup = self._service.next_wakeup(arn)
            if wakeup is not None:
                seconds = min(seconds, (wakeup - now).total_seconds())
        return max(0.0, seconds)

    # -- the end ------------------------------------------------------------------------

    def _ended(self, record: ExecutionRecord) -> ExecutionRecord:
        """The root has ended; its own last invocation is waited for if it ended it.

        A stop or a timeout ends the root from outside: its running invocation (if any)
        learns of it at its next checkpoint, and is not waited for.
        """
        if record.status in (SUCCEEDED, FAILED):
            self._join([("invoke", self._root)])
            record = self._service.get_execution(self._root)
        self._raise_failure()
        left = [
            arn
            for arn in self._service.running_children(self._root)
            if not self._service.get_execution(arn).is_terminal
        ]
        if left:
            logger.warning(
                "Execution %s ended (%s) while chained invokes it started still run: %s. "
                "They run on without it (as on the service); their outcome no longer reaches "
                "it. Drive them with LocalRunner.drive, or stop them.",
                self._root,
                record.status,
                ", ".join(left),
            )
        return record

    def _join(self, keys: list[Key]) -> None:
        for key in keys:
            with self._lock:
                thread = self._inflight.get(key)
            if thread is not None:
                thread.join()

    def _raise_failure(self) -> None:
        with self._lock:
            failure, self._failure = self._failure or self._abandonment.failure, None
        if failure is not None:
            raise failure


def pending_key(call: PendingCall) -> Key:
    return ("call", call.arn, call.operation_id)


def _why(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return str(error) or "SIGINT"
    return f"{type(error).__name__}: {error}"
