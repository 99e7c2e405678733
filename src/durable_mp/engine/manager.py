"""The ExecutionManager: operations by id, active-context accounting, suspension.

The execution may suspend (the invocation returns PENDING) exactly when no context is
active and some context waits on the service. Three orderings keep the count honest
(DESIGN.md rule 4):

1. a context is registered active *before* its work is submitted
   (callers use :meth:`hand_off` or :meth:`register` before starting work);
2. "is it already there?" and "attach my wake-up" happen under one lock
   (:meth:`wait_for_operation`, :meth:`wait_for_completion`);
3. whoever satisfies a waiter re-registers the waiter's context before waking it, and a
   completing context deregisters only afterwards (:meth:`apply_operations`,
   :meth:`complete`).

When the count reaches zero with nobody waiting on the service, nothing can ever make
progress: that is :class:`InternalInvariantError`, never a silent PENDING.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from durable_mp.engine.activity import ActiveContext, current_context
from durable_mp.exceptions import InternalInvariantError, SuspendExecution
from durable_mp.lambda_service import Operation, OperationType

logger = logging.getLogger(__name__)

T = TypeVar("T")
OperationPredicate = Callable[[Operation | None], bool]


class _Waiter:
    """One blocked context; resolved exactly once with a value or an exception."""

    __slots__ = ("_event", "context", "error", "value")

    def __init__(self, context: ActiveContext) -> None:
        self.context = context
        self._event = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def resolve(self, value: Any) -> None:
        self.value = value
        self._event.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._event.set()

    def wait(self) -> Any:
        self._event.wait()
        if self.error is not None:
            raise self.error
        return self.value


@dataclass(eq=False)
class Completion(Generic[T]):
    """An in-process result that contexts can wait for (a step's, a branch's)."""

    label: str
    done: bool = False
    value: T | None = None
    error: BaseException | None = None
    _waiters: list[_Waiter] = field(default_factory=list)
    _callbacks: list[Callable[[Completion[T]], None]] = field(default_factory=list)

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


@dataclass
class _OperationWatch:
    predicate: OperationPredicate
    waiter: _Waiter


class ExecutionManager:
    """Owns the durable state of one invocation of one execution."""

    def __init__(self, durable_execution_arn: str, operations: Iterable[Operation] = ()) -> None:
        self.durable_execution_arn = durable_execution_arn
        self._lock = threading.Lock()
        self._operations: dict[str, Operation] = {op.operation_id: op for op in operations}
        self._active: set[ActiveContext] = set()
        self._watches: defaultdict[str, list[_OperationWatch]] = defaultdict(list)
        self._service_waits = 0
        self._completion_waiters: set[_Waiter] = set()
        self._stop_reason: BaseException | None = None
        self._finished = False
        self.stopped = threading.Event()
        self._refresh_hook: Callable[[float], None] | None = None

    # -- operations ---------------------------------------------------------------------

    def get(self, operation_id: str) -> Operation | None:
        with self._lock:
            return self._operations.get(operation_id)

    def has_prior_operations(self) -> bool:
        with self._lock:
            return any(
                op.operation_type is not OperationType.EXECUTION for op in self._operations.values()
            )

    def operations(self) -> list[Operation]:
        with self._lock:
            return list(self._operations.values())

    def apply_operations(self, operations: Iterable[Operation]) -> None:
        """Merge operations from the service and wake the waiters they satisfy."""
        with self._lock:
            changed = []
            for op in operations:
                self._operations[op.operation_id] = op
                changed.append(op)
            for op in changed:
                watches = self._watches.get(op.operation_id)
                if not watches:
                    continue
                still_waiting = []
                for watch in watches:
                    if self._stop_reason is None and watch.predicate(op):
                        self._service_waits -= 1
                        self._register_locked(watch.waiter.context)  # ordering 3
                        watch.waiter.resolve(op)
                    else:
                        still_waiting.append(watch)
                if still_waiting:
                    self._watches[op.operation_id] = still_waiting
                else:
                    del self._watches[op.operation_id]

    def set_refresh_hook(self, hook: Callable[[float], None] | None) -> None:
        """``hook(unix_time)`` asks the checkpoint thread to fetch new state at that time."""
        self._refresh_hook = hook

    # -- accounting ---------------------------------------------------------------------

    @property
    def active_count(self) -> int:
        with self._lock:
            return len(self._active)

    def register(self, context: ActiveContext) -> None:
        with self._lock:
            self._register_locked(context)

    def deregister(self, context: ActiveContext) -> None:
        with self._lock:
            self._deregister_locked(context)

    def hand_off(self, to: ActiveContext, from_: ActiveContext) -> None:
        """Make ``to`` active, then ``from_`` inactive, so the count never touches zero."""
        with self._lock:
            self._register_locked(to)
            self._deregister_locked(from_)

    def _register_locked(self, context: ActiveContext) -> None:
        if context in self._active or self._stop_reason is not None:
            return
        self._active.add(context)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "Registered context '%s' as active. Active contexts: %d",
                context.name,
                len(self._active),
            )

    def _deregister_locked(self, context: ActiveContext) -> None:
        if context not in self._active or self._stop_reason is not None:
            return
        self._active.discard(context)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "Deregistered context '%s'. Active contexts: %d",
                context.name,
                len(self._active),
            )
        if not self._active and not self._finished and self._stop_reason is None:
            self._on_idle_locked()

    def _on_idle_locked(self) -> None:
        if self._service_waits > 0:
            logger.debug(
                "No active context and %d wait(s) on the service: suspending",
                self._service_waits,
            )
            self._stop_locked(SuspendExecution("No active context; waiting on the service."))
            return
        self._stop_locked(
            InternalInvariantError(
                "durable-mp found no active context and nothing pending on the service: "
                "every unit of work is waiting for another one, so the execution can never "
                "progress. This is a bug in durable-mp or a future awaited outside the "
                "execution that created it; please report it with the DEBUG log of "
                "'durable_mp.engine.manager'."
            )
        )

    # -- waiting ------------------------------------------------------------------------

    def wait_for_operation(
        self,
        operation_id: str,
        predicate: OperationPredicate,
        *,
        wake_at: float | None = None,
    ) -> Operation:
        """Block until the service reports ``operation_id`` in a state ``predicate`` likes.

        The caller's context is inactive while it waits; if that leaves nothing active the
        invocation suspends and this raises :class:`SuspendExecution`. ``wake_at`` (Unix
        time) is when the service will have changed it (a timer), so a refresh is asked for
        then in case other contexts keep the invocation alive.
        """
        context = self._require_context()
        with self._lock:
            self._raise_if_stopped_locked()
            op = self._operations.get(operation_id)
            if predicate(op):
                return op  # type: ignore[return-value]
            waiter = _Waiter(context)
            self._watches[operation_id].append(_OperationWatch(predicate, waiter))
            self._service_waits += 1
            self._deregister_locked(context)  # ordering 2: same critical section
        if wake_at is not None and self._refresh_hook is not None and not self.stopped.is_set():
            self._refresh_hook(wake_at)
        result: Operation = waiter.wait()
        return result

    def wait_for_completion(self, completion: Completion[T]) -> T:
        """Block until an in-process completion resolves; the caller is inactive meanwhile."""
        context = self._require_context()
        with self._lock:
            self._raise_if_stopped_locked()
            if completion.done:
                return completion.outcome()
            waiter = _Waiter(context)
            completion._waiters.append(waiter)
            self._completion_waiters.add(waiter)
            self._deregister_locked(context)
        waiter.wait()
        return completion.outcome()

    def complete(
        self,
        completion: Completion[T],
        *,
        value: T | None = None,
        error: BaseException | None = None,
        completing: ActiveContext | None = None,
    ) -> None:
        """Resolve ``completion``: waiters are re-registered, then ``completing`` leaves."""
        with self._lock:
            if completion.done:
                return
            completion.value, completion.error, completion.done = value, error, True
            for waiter in completion._waiters:
                self._completion_waiters.discard(waiter)
                self._register_locked(waiter.context)  # ordering 3
                waiter.resolve(None)
            completion._waiters.clear()
            callbacks = list(completion._callbacks)
            completion._callbacks.clear()
            if completing is not None:
                self._deregister_locked(completing)
        for callback in callbacks:
            callback(completion)

    # -- ending -------------------------------------------------------------------------

    def abort(self, error: BaseException) -> None:
        """Stop the invocation: every waiter, now and later, raises ``error``."""
        with self._lock:
            if self._stop_reason is None:
                self._stop_locked(error)

    def finish(self) -> None:
        """The handler returned: an empty active set is now expected, not a deadlock."""
        with self._lock:
            self._finished = True

    @property
    def stop_reason(self) -> BaseException | None:
        with self._lock:
            return self._stop_reason

    def raise_if_stopped(self) -> None:
        with self._lock:
            self._raise_if_stopped_locked()

    def _raise_if_stopped_locked(self) -> None:
        if self._stop_reason is not None:
            raise _fresh(self._stop_reason)

    def _stop_locked(self, reason: BaseException) -> None:
        self._stop_reason = reason
        for watches in self._watches.values():
            for watch in watches:
                watch.waiter.fail(_fresh(reason))
        self._watches.clear()
        self._service_waits = 0
        for waiter in self._completion_waiters:
            waiter.fail(_fresh(reason))
        self._completion_waiters.clear()
        self.stopped.set()

    def _require_context(self) -> ActiveContext:
        context = current_context()
        if context is None:
            raise InternalInvariantError(
                "A durable operation waited from a thread that belongs to no durable context. "
                "Durable operations must be called from the handler, a child context or a "
                "step, not from threads the handler starts itself."
            )
        return context


def _fresh(reason: BaseException) -> BaseException:
    """A new exception per waiter, so tracebacks of different threads do not mix."""
    if isinstance(reason, SuspendExecution):
        return SuspendExecution(*reason.args)
    return reason
