"""The ExecutionManager: operations by id, active-context accounting, suspension.

The execution may suspend (the invocation returns PENDING) exactly when no context is
active and something waits on the service. Three orderings keep the count honest
(docs/architecture.md, rule 4):

1. a context is registered active *before* its work is submitted
   (callers use :meth:`hand_off` or :meth:`register` before starting work);
2. "is it already there?" and "attach my wake-up" happen under one lock
   (:meth:`wait_for_operation`, :meth:`wait_for_any`, :meth:`notify_when_done`);
3. whoever satisfies a waiter re-registers the waiter's context before waking it, and a
   completing context deregisters only afterwards (:meth:`apply_operations`,
   :meth:`complete`).

When the count reaches zero with nothing waiting on the service, nothing can ever make
progress: that is :class:`InternalInvariantError`, never a silent PENDING.

Callbacks that leave the manager (replies to worker processes) run after the lock is
released, never under it, so they may take other locks.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

from durable_mp.engine.activity import ActiveContext, current_context
from durable_mp.exceptions import (
    InternalInvariantError,
    OrphanedChildException,
    SuspendExecution,
)
from durable_mp.lambda_service import Operation, OperationType

logger = logging.getLogger(__name__)

T = TypeVar("T")
OperationPredicate = Callable[[Operation | None], bool]
Deferred = list[Callable[[], None]]
Outcome = Callable[[Any, BaseException | None], None]


class _Waiter:
    """One waiting context, settled exactly once (it may wait on several things)."""

    __slots__ = ("context", "error", "settled", "value")

    def __init__(self, context: ActiveContext) -> None:
        self.context = context
        self.settled = False
        self.value: Any = None
        self.error: BaseException | None = None

    def settle(self, value: Any, error: BaseException | None, deferred: Deferred) -> None:
        self.settled, self.value, self.error = True, value, error


class _BlockingWaiter(_Waiter):
    """A thread blocked in the manager."""

    __slots__ = ("_event",)

    def __init__(self, context: ActiveContext) -> None:
        super().__init__(context)
        self._event = threading.Event()

    def settle(self, value: Any, error: BaseException | None, deferred: Deferred) -> None:
        super().settle(value, error, deferred)
        self._event.set()

    def wait(self) -> Any:
        self._event.wait()
        if self.error is not None:
            raise self.error
        return self.value


class _CallbackWaiter(_Waiter):
    """A context that waits without a thread (a step body waiting in a worker process)."""

    __slots__ = ("_callback",)

    def __init__(self, context: ActiveContext, callback: Outcome) -> None:
        super().__init__(context)
        self._callback = callback

    def settle(self, value: Any, error: BaseException | None, deferred: Deferred) -> None:
        super().settle(value, error, deferred)
        deferred.append(lambda: self._callback(value, error))


@dataclass(eq=False)
class Completion(Generic[T]):
    """An in-process result that contexts can wait for (a step's, a branch's)."""

    label: str
    done: bool = False
    value: T | None = None
    error: BaseException | None = None
    _waiters: list[_Waiter] = field(default_factory=list)

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class OperationObserver(Protocol):
    """Instrumentation's view of the manager (``durable_mp.plugins.hooks``)."""

    def applied(
        self, operations: Iterable[Operation], previous: Mapping[str, Operation | None]
    ) -> None: ...

    def observed(self, operation_id: str) -> None: ...


@dataclass(eq=False)
class Mailbox(Generic[T]):
    """Messages for one reading context (a map's coordinator): posting wakes it."""

    messages: deque[T] = field(default_factory=deque)
    reader: _Waiter | None = None


ROOM: Any = object()  # the message that tells a coordinator a branch went quiet


@dataclass
class _Watch:
    """Something to do, under the lock, once the service reports a wanted state."""

    predicate: OperationPredicate
    on_satisfied: Callable[[Operation, Deferred], None]


class ExecutionManager:
    """Owns the durable state of one invocation of one execution."""

    def __init__(self, durable_execution_arn: str, operations: Iterable[Operation] = ()) -> None:
        self.durable_execution_arn = durable_execution_arn
        self._lock = threading.Lock()
        self._operations: dict[str, Operation] = {op.operation_id: op for op in operations}
        self._active: set[ActiveContext] = set()
        self._watches: defaultdict[str, list[_Watch]] = defaultdict(list)
        self._service_waits = 0
        self._waiting: set[_Waiter] = set()
        self._stop_reason: BaseException | None = None
        self._finished = False
        self.stopped = threading.Event()
        self._refresh_hook: Callable[[float], None] | None = None
        # Instrumentation: told of new state and of results a thread is about to act on.
        self.observer: OperationObserver | None = None

    @contextmanager
    def _critical(self) -> Iterator[Deferred]:
        deferred: Deferred = []
        with self._lock:
            yield deferred
        for call in deferred:
            call()

    # -- operations ---------------------------------------------------------------------

    def get(self, operation_id: str) -> Operation | None:
        # One dict read is atomic; writers replace entries whole under the lock.
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
        """Merge operations from the service and satisfy the watches they fulfil."""
        observer = self.observer
        operations = list(operations) if observer is not None else operations
        previous: dict[str, Operation | None] = {}
        deferred: Deferred = []
        with self._lock:
            for op in operations:
                if observer is not None:
                    previous[op.operation_id] = self._operations.get(op.operation_id)
                self._operations[op.operation_id] = op
                watches = self._watches.get(op.operation_id)
                if not watches or self._stop_reason is not None:
                    continue
                remaining = []
                for watch in watches:
                    if watch.predicate(op):
                        self._service_waits -= 1
                        watch.on_satisfied(op, deferred)
                    else:
                        remaining.append(watch)
                if remaining:
                    self._watches[op.operation_id] = remaining
                else:
                    del self._watches[op.operation_id]
        if observer is not None:  # after the lock, before any waiter wakes
            observer.applied(operations, previous)
        for call in deferred:
            call()

    def set_refresh_hook(self, hook: Callable[[float], None] | None) -> None:
        """``hook(unix_time)`` asks the checkpoint thread to fetch new state at that time."""
        self._refresh_hook = hook

    def _ask_refresh(self, wake_at: float | None) -> None:
        if wake_at is not None and self._refresh_hook is not None and not self.stopped.is_set():
            self._refresh_hook(wake_at)

    # -- accounting ---------------------------------------------------------------------

    @property
    def active_count(self) -> int:
        with self._lock:
            return len(self._active)

    def active_names(self) -> list[str]:
        with self._lock:
            return sorted(context.name for context in self._active)

    def register(self, context: ActiveContext) -> None:
        with self._lock:
            self._register_locked(context)

    def deregister(self, context: ActiveContext) -> None:
        with self._critical() as deferred:
            self._deregister_locked(context, deferred)

    def hand_off(self, to: ActiveContext, from_: ActiveContext) -> None:
        """Make ``to`` active, then ``from_`` inactive, so the count never touches zero."""
        deferred: Deferred = []  # _critical() spelled out: this runs twice per step
        with self._lock:
            self._register_locked(to)
            self._deregister_locked(from_, deferred)
        for call in deferred:
            call()

    def _register_locked(self, context: ActiveContext) -> None:
        if context in self._active or self._stop_reason is not None:
            return
        self._active.add(context)
        branch = context.branch
        while branch is not None:  # the branch (and the branches around it) is busy
            branch.active += 1
            if branch.active == 1:
                branch.batch.busy += 1
            branch = branch.parent
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "Registered context '%s' as active. Active contexts: %d",
                context.name,
                len(self._active),
            )

    def _deregister_locked(self, context: ActiveContext, deferred: Deferred) -> None:
        if context not in self._active or self._stop_reason is not None:
            return
        self._active.discard(context)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "Deregistered context '%s'. Active contexts: %d",
                context.name,
                len(self._active),
            )
        branch = context.branch
        while branch is not None:
            branch.active -= 1
            if branch.active == 0:
                branch.batch.busy -= 1
                # Its coordinator may start another branch: wake it before the idle check
                # below, so a batch never suspends with branches it could still start.
                mailbox = branch.batch.branch_went_quiet()
                if mailbox is not None:
                    self._post_locked(cast("Mailbox[Any]", mailbox), ROOM, deferred)
            branch = branch.parent
        if not self._active:
            self._on_idle_locked(deferred)

    def _on_idle_locked(self, deferred: Deferred) -> None:
        if self._finished:
            # The handler returned; what still waits belongs to work nobody awaits.
            self._stop_locked(
                OrphanedChildException("The handler has already returned.", ""), deferred
            )
            return
        if self._service_waits > 0:
            logger.debug(
                "No active context and %d wait(s) on the service: suspending",
                self._service_waits,
            )
            self._stop_locked(
                SuspendExecution("No active context; waiting on the service."), deferred
            )
            return
        self._stop_locked(
            InternalInvariantError(
                "durable-mp found no active context and nothing pending on the service: "
                "every unit of work is waiting for another one, so the execution can never "
                "progress. This is a bug in durable-mp or a future awaited outside the "
                "execution that created it; please report it with the DEBUG log of "
                "'durable_mp.engine.manager'."
            ),
            deferred,
        )

    def _settle_locked(
        self, waiter: _Waiter, value: Any, error: BaseException | None, deferred: Deferred
    ) -> None:
        """Wake one waiter; its context becomes active first (ordering 3)."""
        if waiter.settled:
            return
        self._waiting.discard(waiter)
        self._register_locked(waiter.context)
        waiter.settle(value, error, deferred)

    # -- waiting on the service -----------------------------------------------------------

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
        waiter: _BlockingWaiter | None = None
        with self._critical() as deferred:
            self._raise_if_stopped_locked()
            op = self._operations.get(operation_id)
            if not predicate(op):
                waiter = _BlockingWaiter(context)
                self._waiting.add(waiter)

                def satisfied(current: Operation, later: Deferred) -> None:
                    self._settle_locked(waiter, current, None, later)

                self._watches[operation_id].append(_Watch(predicate, satisfied))
                self._service_waits += 1
                self._deregister_locked(context, deferred)  # ordering 2: same critical section
        if waiter is None:
            self.observed(operation_id)
            return op  # type: ignore[return-value]
        self._ask_refresh(wake_at)
        result: Operation = waiter.wait()
        self.observed(operation_id)
        return result

    def observed(self, operation_id: str) -> None:
        """The calling thread is about to act on this operation's result."""
        if self.observer is not None:
            self.observer.observed(operation_id)

    def complete_when(
        self,
        operation_id: str,
        predicate: OperationPredicate,
        completion: Completion[T],
        value_of: Callable[[Operation], tuple[Any, BaseException | None]],
        *,
        wake_at: float | None = None,
    ) -> None:
        """Resolve ``completion`` once the service reports the wanted state (no thread).

        While the watch is pending it counts as a wait on the service, so a context that
        then waits for ``completion`` lets the invocation suspend.
        """
        with self._critical() as deferred:
            if self._stop_reason is not None:
                return
            op = self._operations.get(operation_id)
            if predicate(op):
                value, error = value_of(op)  # type: ignore[arg-type]
                self._complete_locked(completion, value, error, deferred)
                return

            def satisfied(current: Operation, later: Deferred) -> None:
                value, error = value_of(current)
                self._complete_locked(completion, value, error, later)

            self._watches[operation_id].append(_Watch(predicate, satisfied))
            self._service_waits += 1
        self._ask_refresh(wake_at)

    # -- mailboxes ----------------------------------------------------------------------

    def post(
        self, mailbox: Mailbox[T], message: T, *, completing: ActiveContext | None = None
    ) -> None:
        """Deliver ``message``; the waiting reader is re-registered, then ``completing``
        leaves (ordering 3)."""
        with self._critical() as deferred:
            self._post_locked(mailbox, message, deferred)
            if completing is not None:
                self._deregister_locked(completing, deferred)

    def _post_locked(self, mailbox: Mailbox[Any], message: Any, deferred: Deferred) -> None:
        mailbox.messages.append(message)
        waiter, mailbox.reader = mailbox.reader, None
        if waiter is not None:
            self._settle_locked(waiter, None, None, deferred)

    def take(self, mailbox: Mailbox[T], *, ready: Callable[[], bool] | None = None) -> T | None:
        """The next message, waiting (inactive) for one; None at once if ``ready()``.

        ``ready`` is checked under the lock, so a reader that finds nothing to do cannot
        miss the message that would have given it something.
        """
        context = self._require_context()
        with self._critical() as deferred:
            self._raise_if_stopped_locked()
            if mailbox.messages:
                return mailbox.messages.popleft()
            if ready is not None and ready():
                return None
            waiter = _BlockingWaiter(context)
            self._waiting.add(waiter)
            mailbox.reader = waiter
            self._deregister_locked(context, deferred)  # ordering 2
        waiter.wait()
        with self._lock:
            return mailbox.messages.popleft()

    # -- waiting on in-process completions ------------------------------------------------

    def wait_for_any(self, completions: Sequence[Completion[Any]]) -> Completion[Any]:
        """Block until one of ``completions`` is done and return it.

        Waiting on several counts as one inactive context, however many it watches.
        """
        context = self._require_context()
        with self._critical() as deferred:
            self._raise_if_stopped_locked()
            for completion in completions:
                if completion.done:
                    return completion
            waiter = _BlockingWaiter(context)
            self._waiting.add(waiter)
            for completion in completions:
                completion._waiters.append(waiter)
            self._deregister_locked(context, deferred)
        done: Completion[Any] = waiter.wait()
        return done

    def wait_for_completion(self, completion: Completion[T]) -> T:
        """Block until ``completion`` resolves; the caller is inactive meanwhile."""
        return self.wait_for_any([completion]).outcome()  # type: ignore[no-any-return]

    def notify_when_done(
        self, completions: Sequence[Completion[Any]], context: ActiveContext, callback: Outcome
    ) -> None:
        """Wait for the first of ``completions`` on behalf of ``context``, without a thread.

        ``context`` is inactive until then; ``callback(value, error)`` of that completion
        runs outside the lock -- or ``callback(None, stop_reason)`` if the invocation ends
        first.
        """
        with self._critical() as deferred:
            if self._stop_reason is not None:
                reason = _fresh(self._stop_reason)
                deferred.append(lambda: callback(None, reason))
                return
            done = next((completion for completion in completions if completion.done), None)
            if done is not None:
                deferred.append(lambda: callback(done.value, done.error))
                return

            def settled(done: Any, stopped: BaseException | None) -> None:
                if stopped is not None:
                    callback(None, stopped)
                else:
                    callback(done.value, done.error)

            waiter = _CallbackWaiter(context, settled)
            self._waiting.add(waiter)
            for completion in completions:
                completion._waiters.append(waiter)
            self._deregister_locked(context, deferred)

    def complete(
        self,
        completion: Completion[T],
        *,
        value: T | None = None,
        error: BaseException | None = None,
        completing: ActiveContext | None = None,
    ) -> None:
        """Resolve ``completion``: waiters are re-registered, then ``completing`` leaves."""
        with self._critical() as deferred:
            self._complete_locked(completion, value, error, deferred)
            if completing is not None:
                self._deregister_locked(completing, deferred)

    def _complete_locked(
        self,
        completion: Completion[Any],
        value: Any,
        error: BaseException | None,
        deferred: Deferred,
    ) -> None:
        if completion.done:
            return
        completion.value, completion.error, completion.done = value, error, True
        for waiter in completion._waiters:
            self._settle_locked(waiter, completion, None, deferred)  # ordering 3
        completion._waiters.clear()

    # -- ending -------------------------------------------------------------------------

    def abort(self, error: BaseException) -> None:
        """Stop the invocation: every waiter, now and later, raises ``error``."""
        with self._critical() as deferred:
            if self._stop_reason is None:
                self._stop_locked(error, deferred)

    def finish(self, root: ActiveContext) -> None:
        """The handler returned: ``root`` leaves, and idleness now means "done".

        Asynchronous operations still running may finish; those still waiting on the
        service once nothing is active are released with OrphanedChildException.
        """
        with self._critical() as deferred:
            self._finished = True
            self._deregister_locked(root, deferred)

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

    def _stop_locked(self, reason: BaseException, deferred: Deferred) -> None:
        self._stop_reason = reason
        for waiter in list(self._waiting):
            waiter.settle(None, _fresh(reason), deferred)
        self._waiting.clear()
        self._watches.clear()
        self._service_waits = 0
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
