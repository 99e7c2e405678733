"""The CheckpointBatcher: one thread, one API call in flight, batches of updates.

Callers enqueue updates. A synchronous caller blocks until its update is durable; an
asynchronous one (at-least-once step START, child context START) does not. The thread:

* waits for the first update (or a due refresh);
* collects more: if any caller in the batch is blocked, only what is already queued is
  added (no idle delay); otherwise it lingers briefly so that an async START and the
  SUCCEED that follows go out in one call;
* stops at 250 updates or 750 KB (the service's limits);
* sends, adopts the new checkpoint token, fetches further pages of NewExecutionState
  (NextMarker) with GetDurableExecutionState, hands the operations to the manager, and
  only then wakes the batch's callers.

A synchronous caller that finds no call in flight and the whole queue (its own update
last) within those limits sends that batch itself, on its own thread, exactly as the
thread would have: same batch, same order, still one call in flight. That saves two
thread hand-offs per synchronous checkpoint, most of what a trivial step costs.

An API failure is delivered to every waiting caller and to the manager; later enqueues
fail at once. The caller sees :class:`BackgroundThreadError`, a ``BaseException`` so user
code cannot swallow it; the invocation classifies the wrapped error.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from durable_mp.exceptions import (
    BackgroundThreadError,
    OrphanedChildException,
    SuspendExecution,
)

if TYPE_CHECKING:
    from durable_mp.engine.manager import ExecutionManager
    from durable_mp.lambda_service import Operation, OperationUpdate
    from durable_mp.service_client import DurableServiceClient

logger = logging.getLogger(__name__)

MAX_BATCH_BYTES = 750 * 1024
MAX_BATCH_UPDATES = 250
LINGER_SECONDS = 0.05


class UpdateObserver(Protocol):
    """Instrumentation's view of the batcher (``durable_mp.plugins.hooks``)."""

    def before_update(self, update: OperationUpdate, previous: Operation | None) -> None: ...

    def observed(self, operation_id: str) -> None: ...


@dataclass(eq=False)
class _Queued:
    update: OperationUpdate
    size: int
    done: threading.Event | None = None  # set for synchronous callers
    error: BaseException | None = None
    enqueued: float = field(default_factory=time.monotonic)
    sequence: int = 0  # enqueue order, for flush()


@dataclass(frozen=True)
class BatcherLimits:
    max_bytes: int = MAX_BATCH_BYTES
    max_updates: int = MAX_BATCH_UPDATES
    linger_seconds: float = LINGER_SECONDS


@dataclass
class BatcherStats:
    calls: int = 0
    updates: int = 0
    refreshes: int = 0
    pages: int = 0
    batch_sizes: list[int] = field(default_factory=list)


class CheckpointBatcher:
    """Sends checkpoints for one invocation; see the module docstring."""

    def __init__(
        self,
        client: DurableServiceClient,
        manager: ExecutionManager,
        checkpoint_token: str,
        *,
        limits: BatcherLimits | None = None,
    ) -> None:
        self._client = client
        self._manager = manager
        self._arn = manager.durable_execution_arn
        self._token: str | None = checkpoint_token
        self._limits = limits or BatcherLimits()
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[_Queued] = deque()
        self._queued_bytes = 0
        self._sending = False  # a batch is being sent (by the thread or by a caller)
        self._lingering = False  # the thread sleeps until the front update's linger ends
        self._refreshes: list[float] = []
        self._stopping = False
        self._failure: BaseException | None = None
        self._execution_completed = False
        self._enqueued = 0  # updates enqueued so far
        self._acknowledged = 0  # of those, how many the service has accepted (a prefix)
        self._flushing = 0  # callers in flush(): the thread must not linger
        self._thread = threading.Thread(target=self._run, name="durable-mp-checkpoint", daemon=True)
        self.stats = BatcherStats()
        # ClientToken: unique per call (a random prefix per invocation, then a counter),
        # at most 64 printable characters as the API requires.
        self._client_token_prefix = uuid.uuid4().hex
        self._client_token_numbers = itertools.count(1)
        # Instrumentation: told before an update is queued and after a synchronous one is
        # durable, on the caller's thread (never on the checkpoint thread).
        self.observer: UpdateObserver | None = None

    def _client_token(self) -> str:
        return f"{self._client_token_prefix}-{next(self._client_token_numbers)}"

    # -- caller side ------------------------------------------------------------------

    @property
    def client(self) -> DurableServiceClient:
        """The service client the checkpoints go to."""
        return self._client

    def start(self) -> None:
        self._thread.start()

    def checkpoint(self, update: OperationUpdate) -> None:
        """Enqueue ``update`` and block until the service has accepted it."""
        observer = self.observer
        if observer is None:
            self._enqueue(update, sync=True)
            return
        observer.before_update(update, self._manager.get(update.operation_id))
        self._enqueue(update, sync=True)
        observer.observed(update.operation_id)

    def checkpoint_async(self, update: OperationUpdate) -> None:
        """Enqueue ``update`` and return; it is sent with the next batch."""
        if self.observer is not None:
            self.observer.before_update(update, self._manager.get(update.operation_id))
        self._enqueue(update, sync=False)

    def schedule_refresh(self, at: float) -> None:
        """Fetch the execution's state at Unix time ``at`` (an empty checkpoint)."""
        with self._cond:
            if self._stopping or self._failure is not None:
                return
            heapq.heappush(self._refreshes, at)
            self._cond.notify()

    @property
    def execution_completed(self) -> bool:
        return self._execution_completed

    def flush(self) -> None:
        """Block until every update enqueued so far is accepted by the service.

        The barrier of pipelined checkpointing: the end of an invocation (and anything
        else that must not run ahead of unacknowledged updates) waits here. Raises what
        a synchronous checkpoint would if a call failed.
        """
        with self._cond:
            target = self._enqueued
            self._flushing += 1
            self._cond.notify_all()  # a lingering thread sends now
            try:
                while (
                    self._acknowledged < target
                    and self._failure is None
                    and not self._execution_completed
                ):
                    self._cond.wait()
            finally:
                self._flushing -= 1
            if self._failure is not None:
                raise _for_caller(self._failure)

    def _enqueue(self, update: OperationUpdate, *, sync: bool) -> None:
        item = _Queued(update, _update_size(update), threading.Event() if sync else None)
        batch: list[_Queued] | None = None
        with self._cond:
            self._raise_if_unusable_locked()
            self._enqueued += 1
            item.sequence = self._enqueued
            self._queue.append(item)
            self._queued_bytes += item.size
            if sync and not self._sending:
                count, _ = self._front_batch_locked()
                if count == len(self._queue):  # everything queued, this update included
                    batch = list(self._queue)
                    self._queue.clear()
                    self._queued_bytes = 0
                    self._clear_due_refreshes()
                    self._sending = True
            if batch is None and (sync or not self._lingering or self._full_locked()):
                # A lingering thread wakes in time for this update anyway: the linger of
                # an update runs from its enqueue, whichever update the thread slept for.
                self._cond.notify()
        if batch is not None:
            try:
                self._send(batch)
            finally:
                self._done_sending()
        if item.done is None:
            return
        item.done.wait()
        if item.error is not None:
            raise _for_caller(item.error)

    def _raise_if_unusable_locked(self) -> None:
        if self._failure is not None:
            raise _for_caller(self._failure)
        if self._execution_completed:
            raise OrphanedChildException(
                "The execution already completed; this checkpoint cannot be recorded.", ""
            )
        if self._stopping:
            raise OrphanedChildException(
                "The invocation has ended; this checkpoint cannot be recorded.", ""
            )

    def stop(self, *, timeout: float = 30.0) -> None:
        """Send what is queued, then end the thread (end of every invocation)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("The checkpoint thread did not finish within %.0f s", timeout)

    # -- checkpoint thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                break
            try:
                self._send(batch)
            finally:
                self._done_sending()
        if self._failure is not None or self._execution_completed:
            self._settle_rest()

    def _collect(self) -> list[_Queued] | None:
        """The next batch; ``[]`` means a refresh only, None means stop.

        Nothing is taken off the queue until the batch goes, so a caller that sends
        itself meanwhile sends the same updates in the same order.
        """
        limits = self._limits
        with self._cond:
            while True:
                if self._failure is not None or self._execution_completed:
                    return None
                if self._sending:  # a caller is sending; wait for it to finish
                    self._cond.wait(self._seconds_to_refresh())
                    continue
                if not self._queue:
                    if self._stopping:
                        return None
                    if self._refresh_due():
                        self._clear_due_refreshes()
                        self._sending = True
                        return []
                    self._cond.wait(self._seconds_to_refresh())
                    continue
                count, blocked = self._front_batch_locked()
                full = count >= limits.max_updates or count < len(self._queue)
                remaining = self._queue[0].enqueued + limits.linger_seconds - time.monotonic()
                urgent = blocked or self._flushing or self._stopping
                if full or urgent or remaining <= 0:
                    batch = [self._queue.popleft() for _ in range(count)]
                    self._queued_bytes -= sum(item.size for item in batch)
                    self._clear_due_refreshes()
                    self._sending = True
                    return batch
                self._lingering = True
                try:
                    self._cond.wait(remaining)
                finally:
                    self._lingering = False

    def _front_batch_locked(self) -> tuple[int, bool]:
        """How many queued updates the next batch takes, and whether a caller waits on
        one of them."""
        limits = self._limits
        count = size = 0
        blocked = False
        for item in self._queue:
            if count >= limits.max_updates or (count and size + item.size > limits.max_bytes):
                break
            count += 1
            size += item.size
            blocked = blocked or item.done is not None
        return count, blocked

    def _full_locked(self) -> bool:
        """Whether the queue holds more than one batch (as ``_front_batch_locked`` cuts)."""
        queued = len(self._queue)
        return queued >= self._limits.max_updates or (
            queued >= 2 and self._queued_bytes > self._limits.max_bytes
        )

    def _done_sending(self) -> None:
        with self._cond:
            self._sending = False
            if self._flushing:
                self._cond.notify_all()
            elif (
                self._queue
                or self._stopping
                or self._refreshes
                or self._failure is not None
                or self._execution_completed
            ):
                self._cond.notify()

    def _refresh_due(self) -> bool:
        return bool(self._refreshes) and self._refreshes[0] <= time.time()

    def _seconds_to_refresh(self) -> float | None:
        if not self._refreshes:
            return None
        return max(0.0, self._refreshes[0] - time.time())

    def _clear_due_refreshes(self) -> None:
        now = time.time()
        while self._refreshes and self._refreshes[0] <= now:
            heapq.heappop(self._refreshes)

    def _send(self, batch: list[_Queued]) -> None:
        updates = [item.update for item in batch]
        token = self._token
        assert token is not None
        try:
            output = self._client.checkpoint(self._arn, token, updates, self._client_token())
            operations: list[Operation] = list(output.new_execution_state.operations)
            if output.checkpoint_token:
                self._token = output.checkpoint_token
                marker = output.new_execution_state.next_marker
                while marker:
                    page = self._client.get_execution_state(self._arn, self._token, marker)
                    operations.extend(page.operations)
                    marker = page.next_marker
                    self.stats.pages += 1
            elif any(update.is_execution_terminal for update in updates):
                self._execution_completed = True
            else:
                self._token = None
                raise SuspendExecution(
                    "The service withdrew this invocation's checkpoint token; ending the "
                    "invocation as PENDING."
                )
        except BaseException as error:
            self._fail(error, batch)
            return
        self.stats.calls += 1
        self.stats.updates += len(updates)
        self.stats.batch_sizes.append(len(updates))
        if not updates:
            self.stats.refreshes += 1
        self._manager.apply_operations(operations)
        if batch:
            with self._cond:
                self._acknowledged = batch[-1].sequence
                if self._flushing:
                    self._cond.notify_all()
        for item in batch:
            if item.done is not None:
                item.done.set()

    def _fail(self, error: BaseException, batch: list[_Queued]) -> None:
        if isinstance(error, SuspendExecution):
            logger.warning("%s", error)
        else:
            logger.error("Checkpoint failed for %s: %s", self._arn, error)
        with self._cond:
            self._failure = error
            self._cond.notify_all()  # flush() callers raise it
        for item in batch:
            item.error = error
            if item.done is not None:
                item.done.set()
        self._manager.abort(_for_caller(error))

    def _settle_rest(self) -> None:
        """Nothing more can be sent: release every caller still queued."""
        with self._cond:
            rest = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            self._refreshes.clear()
        reason: BaseException = self._failure or OrphanedChildException(
            "The execution already completed; this checkpoint cannot be recorded.", ""
        )
        for item in rest:
            item.error = reason
            if item.done is not None:
                item.done.set()


def _for_caller(error: BaseException) -> BaseException:
    if isinstance(error, SuspendExecution | OrphanedChildException | BackgroundThreadError):
        return error
    return BackgroundThreadError(f"Checkpointing failed: {error}", error)


def _update_size(update: OperationUpdate) -> int:
    """``len(json.dumps(update.to_dict()).encode())``, without building either for the
    common shapes (a step's START or SUCCEED): the JSON of each string, plus the keys."""
    if update.error is not None or update.chained_invoke_options is not None:
        return len(json.dumps(update.to_dict()).encode())
    size = (
        _BASE_SIZE
        + len(_json_text(update.operation_id))
        + len(update.operation_type.value)
        + len(update.action.value)
    )
    if update.parent_id:
        size += _FIELD_SIZE["ParentId"] + len(_json_text(update.parent_id))
    if update.name:
        size += _FIELD_SIZE["Name"] + len(_json_text(update.name))
    if update.sub_type:
        size += _FIELD_SIZE["SubType"] + len(_json_text(update.sub_type))
    if update.payload is not None:
        size += _FIELD_SIZE["Payload"] + len(_json_text(update.payload))
    for key, options in (
        ("ContextOptions", update.context_options),
        ("StepOptions", update.step_options),
        ("WaitOptions", update.wait_options),
        ("CallbackOptions", update.callback_options),
    ):
        if options is not None:
            size += _FIELD_SIZE[key] + len(json.dumps(options.to_dict()))
    return size


_json_text = json.encoder.encode_basestring_ascii  # a string as json.dumps writes it
# '{"Id": , "Type": "", "Action": ""}' without the id; each further key adds ', "Key": '.
_BASE_SIZE = len(json.dumps({"Id": "", "Type": "", "Action": ""})) - 2
_FIELD_SIZE = {
    key: len(json.dumps({key: 0})) - 3 + 2
    for key in (
        "ParentId",
        "Name",
        "SubType",
        "Payload",
        "ContextOptions",
        "StepOptions",
        "WaitOptions",
        "CallbackOptions",
    )
}
