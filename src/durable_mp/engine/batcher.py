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

An API failure is delivered to every waiting caller and to the manager; later enqueues
fail at once. The caller sees :class:`BackgroundThreadError`, a ``BaseException`` so user
code cannot swallow it; the invocation classifies the wrapped error.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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


@dataclass(eq=False)
class _Queued:
    update: OperationUpdate
    size: int
    done: threading.Event | None = None  # set for synchronous callers
    error: BaseException | None = None


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
        self._refreshes: list[float] = []
        self._stopping = False
        self._failure: BaseException | None = None
        self._execution_completed = False
        self._thread = threading.Thread(target=self._run, name="durable-mp-checkpoint", daemon=True)
        self.stats = BatcherStats()

    # -- caller side ------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def checkpoint(self, update: OperationUpdate) -> None:
        """Enqueue ``update`` and block until the service has accepted it."""
        self._enqueue(update, sync=True)

    def checkpoint_async(self, update: OperationUpdate) -> None:
        """Enqueue ``update`` and return; it is sent with the next batch."""
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

    def _enqueue(self, update: OperationUpdate, *, sync: bool) -> None:
        item = _Queued(update, _update_size(update), threading.Event() if sync else None)
        with self._cond:
            self._raise_if_unusable_locked()
            self._queue.append(item)
            self._cond.notify()
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
                return
            self._send(batch)
            if self._failure is not None or self._execution_completed:
                self._settle_rest()
                return

    def _collect(self) -> list[_Queued] | None:
        """The next batch; ``[]`` means a refresh only, None means stop."""
        limits = self._limits
        with self._cond:
            while not self._queue and not self._stopping and not self._refresh_due():
                self._cond.wait(self._seconds_to_refresh())
            if not self._queue:
                if self._stopping:
                    return None
                self._clear_due_refreshes()
                return []
            batch: list[_Queued] = []
            size = 0
            deadline = time.monotonic() + limits.linger_seconds
            while True:
                while self._queue and len(batch) < limits.max_updates:
                    item = self._queue[0]
                    if batch and size + item.size > limits.max_bytes:
                        break
                    self._queue.popleft()
                    batch.append(item)
                    size += item.size
                full = len(batch) >= limits.max_updates or bool(self._queue)
                blocked = any(item.done is not None for item in batch)
                remaining = deadline - time.monotonic()
                if full or blocked or self._stopping or remaining <= 0:
                    break
                self._cond.wait(remaining)
            self._clear_due_refreshes()
            return batch

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
            output = self._client.checkpoint(self._arn, token, updates, str(uuid.uuid4()))
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
    return len(json.dumps(update.to_dict()).encode())
