"""LocalService: the durable execution service, in-process and backed by SQLite.

It implements the two data-plane calls the SDK makes
(:class:`~durable_mp.service_client.DurableServiceClient`) with the real service's
operation state machine, validation and checkpoint-token discipline, plus the control
plane a runner needs: start and stop executions, complete callbacks, begin and complete
invocations, fire timers, carry chained invokes to their targets and back, read the
history in ``GetDurableExecutionHistory`` format.

Each call is one SQLite transaction, so a process killed at any instant resumes from the
last acknowledged checkpoint. One process drives an execution at a time; any number may
read it, and others may complete its callbacks or stop it: nothing is cached between
calls, so their changes are seen at the next one.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from durable_mp.exceptions import CheckpointError, GetExecutionStateError
from durable_mp.lambda_service import (
    CheckpointOutput,
    ErrorObject,
    Operation,
    OperationStatus,
    OperationUpdate,
    StateOutput,
)
from durable_mp.local import (
    callbacks,
    checkpoints,
    executions,
    history,
    invocations,
    invoke,
    lifecycle,
    owners,
)
from durable_mp.local.clock import Clock, RealClock, from_epoch
from durable_mp.local.errors import (
    CallbackRequestError,
    ExecutionNotFoundError,
    ExecutionNotRunningError,
    execution_not_found,
)
from durable_mp.local.invoke import FunctionSpec, PendingCall
from durable_mp.local.journal import Journal
from durable_mp.local.listeners import HistoryListener, Listeners
from durable_mp.local.memory_store import MemoryStore
from durable_mp.local.owners import LEASE_SECONDS, Owner
from durable_mp.local.records import EXECUTION_NAME, RUNNING, STOPPED, ExecutionRecord, Invocation
from durable_mp.local.sqlite_store import SqliteStore
from durable_mp.local.store import (
    BodyRunRow,
    CallbackRow,
    CheckpointReply,
    DuplicateKeyError,
    ExecutionRow,
    LeaseRow,
    Store,
    Tx,
)
from durable_mp.local.validation import MAX_WAIT_SECONDS

if TYPE_CHECKING:
    import datetime
    import os
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

logger = logging.getLogger(__name__)

STOP_REQUESTED = "Execution stopped by user request"
MAX_STOP_ERROR_BYTES = 1_048_576  # StopDurableExecution's Error, as the API bounds it


class BodyRun(Protocol):
    """Where and when one attempt of a step-like body ran (the engine's ``BodyRun``)."""

    @property
    def executor(self) -> str: ...
    @property
    def pid(self) -> int: ...
    @property
    def thread(self) -> str: ...
    @property
    def started_at(self) -> float: ...
    @property
    def ended_at(self) -> float: ...


class LocalService:
    """The embedded durable execution service.

    ``path`` is the SQLite file (created 0600), or None for an in-memory store;
    ``read_only`` opens an existing file for reading only (it never writes to it, and
    its changes raise :class:`~durable_mp.local.store.StoreReadOnlyError`). A file that
    is not a durable-mp store raises :class:`~durable_mp.local.store.NotAStoreError`
    and is left untouched.
    ``page_size`` bounds every page of operations it returns (the invocation's first
    page, a checkpoint's ``NewExecutionState``, ``GetDurableExecutionState``).
    ``invocation_retry_delay`` is the backoff before a failed invocation is retried.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        page_size: int = 100,
        region: str = "local",
        account_id: str = "000000000000",
        invocation_retry_delay: float = 5.0,
        clock: Clock | None = None,
        read_only: bool = False,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if read_only and path is None:
            raise ValueError("read_only needs the path of an existing store")
        # No file: nothing to keep across a crash and nobody else can open the store, so
        # it is kept as Python objects (same tables, same answers, still transactional).
        self._store: Store = (
            MemoryStore() if path is None else SqliteStore(path, read_only=read_only)
        )
        self.read_only = read_only
        self._unsaved_runs: list[BodyRunRow] = []  # saved by the next change (see below)
        self._unsaved_runs_lock = threading.Lock()
        self._page_size = page_size
        self.region = region
        self.account_id = account_id
        self._retry_delay = invocation_retry_delay
        self._clock: Clock = clock or RealClock()
        self._functions: dict[str, FunctionSpec] = {}
        self._listeners = Listeners(self._events_after, self._last_event_id)

    @property
    def path(self) -> str:
        return self._store.path

    # -- data plane (DurableServiceClient) ---------------------------------------------

    def checkpoint(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        client_token: str | None,
    ) -> CheckpointOutput:
        """Apply a batch of updates atomically; answer with a new token and the delta.

        ``NewExecutionState`` holds every operation changed since ``checkpoint_token``
        was issued (this batch, and timers fired meanwhile), in creation order, paged.
        """
        arn = durable_execution_arn
        wire = [_as_on_the_wire(update) for update in updates]
        failure: CheckpointError | None = None
        with self._change(arn, lambda: execution_not_found(CheckpointError, arn)) as journal:
            cached = journal.tx.reply(arn, client_token, checkpoint_token) if client_token else None
            if cached is not None:
                return cached
            lifecycle.fire_due_timers(journal, journal.now)
            try:
                output = checkpoints.apply(journal, checkpoint_token, wire, self._context())
            except CheckpointError as error:
                failure = error  # the fired timers still commit
            else:
                if client_token:
                    journal.tx.put_reply(
                        arn,
                        CheckpointReply(client_token, checkpoint_token, output),
                    )
        if failure is not None:
            raise failure
        return output

    def get_execution_state(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        next_marker: str,
        max_items: int = 1000,
    ) -> StateOutput:
        """One page of operations: from the start, or where ``next_marker`` points.

        A marker from a checkpoint response continues that checkpoint's delta; any
        other marker continues the full listing. Only the current token is accepted.
        """
        arn = durable_execution_arn
        with self._store.transaction(write=False) as tx:
            row = tx.load_execution(arn)
            if row is None:
                raise execution_not_found(GetExecutionStateError, arn)
            return checkpoints.read_state(
                tx, row, checkpoint_token, next_marker, min(max_items, self._page_size)
            )

    # -- control plane -----------------------------------------------------------------

    def start_execution(
        self,
        function_name: str,
        input_payload: str | None,
        *,
        name: str | None = None,
        execution_timeout_seconds: int = 86400,
    ) -> ExecutionRecord:
        """Create an execution (RUNNING, never invoked yet); its ARN names it from now on."""
        now = self._clock.now()
        try:
            with self._store.transaction() as tx:
                journal = executions.create(
                    tx,
                    region=self.region,
                    account_id=self.account_id,
                    function_name=function_name,
                    input_payload=input_payload,
                    name=name,
                    execution_timeout_seconds=execution_timeout_seconds,
                    now=now,
                )
                journal.save()
        except DuplicateKeyError as error:  # another process took the name meanwhile
            raise executions.name_conflict(name or "") from error
        self._notify(journal)
        return _record(journal.row)

    def stop_execution(self, arn_or_name: str, error: ErrorObject | None = None) -> ExecutionRecord:
        """Stop a RUNNING execution: STOPPED, with an ExecutionStopped event.

        Its running invocation can checkpoint no more, so it ends; a chained invoke that
        started this execution ends STOPPED with ``error``. Stopping an execution that has
        already ended changes nothing (the API's stop is idempotent): check the returned
        record's status.
        """
        if error is not None and len(json.dumps(error.to_dict())) > MAX_STOP_ERROR_BYTES:
            raise ValueError(f"The stop error is larger than {MAX_STOP_ERROR_BYTES} bytes.")
        arn = self._arn_of(arn_or_name)
        with self._change(arn) as journal:
            lifecycle.fire_due_timers(journal, journal.now)  # a timeout that came first stands
            if journal.row.status == RUNNING:
                lifecycle.end_execution(
                    journal, STOPPED, error=error or ErrorObject.from_message(STOP_REQUESTED)
                )
            record = _record(journal.row)
        return record

    def get_execution(self, arn: str) -> ExecutionRecord:
        with self._store.transaction(write=False) as tx:
            return _record(self._row(tx.load_execution(arn), arn))

    def find_execution(self, name: str) -> ExecutionRecord | None:
        with self._store.transaction(write=False) as tx:
            row = tx.find_execution_by_name(name)
        return None if row is None else _record(row)

    def list_executions(self) -> list[ExecutionRecord]:
        with self._store.transaction(write=False) as tx:
            return [_record(row) for row in tx.list_executions()]

    def get_operations(self, arn: str) -> list[Operation]:
        """Every operation of the execution, in creation order."""
        with self._store.transaction(write=False) as tx:
            self._row(tx.load_execution(arn), arn)
            return [stored.operation for stored in tx.operations(arn)]

    def get_history(self, arn: str, *, include_execution_data: bool = True) -> list[dict[str, Any]]:
        """The history events, as boto3's ``get_durable_execution_history`` returns them.

        ``EventTimestamp`` (and the other timestamps) are ``datetime`` objects; pass the
        list to :func:`~durable_mp.local.history.history_to_json` for JSON.
        """
        with self._store.transaction(write=False) as tx:
            self._row(tx.load_execution(arn), arn)
            stored = tx.events(arn)
        return [
            history.present(event, include_execution_data=include_execution_data)
            for event in stored
        ]

    def get_history_json(self, arn: str) -> list[dict[str, Any]]:
        """The history events as stored: ``history_to_json(get_history(arn))``, without
        building ``datetime`` objects first (an execution can have many thousands)."""
        with self._store.transaction(write=False) as tx:
            self._row(tx.load_execution(arn), arn)
            return tx.events(arn)

    def begin_invocation(self, arn: str, *, owner: Owner | None = None) -> Invocation:
        """Open the next invocation of a RUNNING execution.

        ``owner`` is the runner's identity when it holds the execution's lease (see
        :meth:`acquire_lease`); while another live runner holds it, this raises
        :class:`ExecutionOwnedError` and touches nothing. An invocation that was begun but
        never completed (its runner is gone) is closed first as interrupted
        (``Runtime.ExitError``, not counted as a failed invocation).
        """
        invocation: Invocation | None = None
        with self._change(arn) as journal:
            owners.check(journal.tx, arn, owner, journal.row.name)
            owners.recover(journal)
            lifecycle.fire_due_timers(journal, journal.now)
            if journal.row.status == RUNNING:
                invocation = invocations.begin(journal, self._page_size)
            status = journal.row.status
        if invocation is None:
            raise ExecutionNotRunningError(
                f"Execution {arn} has ended ({status}); it cannot be invoked again."
            )
        return invocation

    def complete_invocation(
        self,
        invocation: Invocation,
        *,
        output: Mapping[str, Any] | None = None,
        error: ErrorObject | None = None,
    ) -> ExecutionRecord:
        """Apply the handler's output dict, or the error the invocation failed with."""
        if (output is None) == (error is None):
            raise ValueError("complete_invocation needs exactly one of output= or error=")
        with self._change(invocation.arn) as journal:
            current = journal.tx.open_invocation(invocation.arn)
            if current is None or current.request_id != invocation.request_id:
                logger.warning(
                    "Invocation %s of %s was already closed (its process was presumed dead); "
                    "its outcome is ignored.",
                    invocation.request_id,
                    invocation.arn,
                )
            else:
                invocations.complete(journal, current, output, error, self._retry_delay)
            record = _record(journal.row)
        return record

    def recover_interrupted_invocation(self, arn: str, *, owner: Owner | None = None) -> bool:
        """Close an invocation whose runner is gone, as interrupted; whether there was one.

        Not a failed invocation: the execution is invoked again at once. Raises
        :class:`ExecutionOwnedError` while another live runner holds the execution's lease.
        """
        with self._change(arn) as journal:
            owners.check(journal.tx, arn, owner, journal.row.name)
            return owners.recover(journal)

    def interrupt_invocation(self, invocation: Invocation, why: str) -> bool:
        """Close an invocation its own runner stops (Ctrl-C, SIGTERM); whether it was open.

        Recorded as ``Runner.Interrupted`` (``why`` says how), which is not a failed
        invocation: the execution resumes with the next runner.
        """
        with self._change(invocation.arn) as journal:
            current = journal.tx.open_invocation(invocation.arn)
            if current is None or current.request_id != invocation.request_id:
                return False
            invocations.interrupt(journal, current, invocations.interrupted_error(why))
            return True

    # -- ownership (one runner drives an execution at a time) --------------------------

    def acquire_lease(
        self, arn: str, owner: Owner, *, lease_seconds: float = LEASE_SECONDS
    ) -> LeaseRow | None:
        """Take (or renew) the lease of ``arn`` for ``owner``: None when it holds it now,
        else the lease of the live runner that does.

        Taking over from a runner that is provably gone (its process died on this
        machine, or its lease expired) closes that runner's unfinished invocation as
        interrupted.
        """
        with self._change(arn) as journal:
            return owners.take(journal, owner, lease_seconds)

    def renew_leases(self, owner: Owner, *, lease_seconds: float = LEASE_SECONDS) -> set[str]:
        """Renew every lease ``owner`` holds; the ARNs it still holds."""
        with self._store.transaction() as tx:
            return owners.renew(tx, owner.owner_id, lease_seconds)

    def release_leases(self, owner: Owner, arns: Iterable[str] | None = None) -> None:
        """Give up ``owner``'s leases (only those of ``arns``, if given)."""
        with self._store.transaction() as tx:
            owners.release(tx, owner.owner_id, arns)

    def owner_of(self, arn: str) -> LeaseRow | None:
        """The lease of the live runner driving ``arn``, if one does."""
        with self._store.transaction(write=False) as tx:
            lease = tx.lease(arn)
        return None if lease is None or owners.is_gone(lease, time.time()) else lease

    def execution_owners(self) -> dict[str, LeaseRow]:
        """The live owners of executions, by ARN (an execution nobody drives is absent)."""
        with self._store.transaction(write=False) as tx:
            return owners.live(tx)

    def fire_due_timers(self, arn: str, *, as_of: datetime.datetime | None = None) -> bool:
        """Complete waits and ready step retries due by ``as_of`` (default now).

        Passing a future ``as_of`` fast-forwards: the timers fire now, with real
        timestamps, as if that moment had come. Also fires the execution timeout and a
        pending invocation retry. Returns whether anything changed.
        """
        with self._change(arn) as journal:
            return lifecycle.fire_due_timers(journal, as_of or journal.now)

    def next_wakeup(self, arn: str) -> datetime.datetime | None:
        """When the next timer, invocation retry or the timeout comes due (None if ended)."""
        with self._store.transaction(write=False) as tx:
            return lifecycle.next_wakeup(tx, self._row(tx.load_execution(arn), arn))

    def has_work(self, arn: str) -> bool:
        """Whether an invocation should run now.

        True when the execution was never invoked, an invocation was interrupted, a
        failed invocation's retry is due, or something changed that no invocation has
        seen yet (a wait fired, a step retry became READY).
        """
        with self._store.transaction(write=False) as tx:
            return self._has_work(tx, self._row(tx.load_execution(arn), arn))

    def _has_work(self, tx: Tx, row: ExecutionRow) -> bool:
        if row.status != RUNNING:
            return False
        if row.invocation_count == 0 or tx.open_invocation(row.arn) is not None:
            return True
        if row.retry_at is not None:
            return row.retry_at <= self._clock.now().timestamp()
        return row.version > row.seen_version or invocations.ready_since_begin(
            tx, row.arn, row.begin_version
        )

    def skip_ahead(self, arn: str, *, skip_timeout: bool = True) -> bool:
        """Fast-forward one idle execution: fire its next skippable timer now.

        One transaction decides and fires, so an execution that meanwhile got work (a
        chained child that just ended) is never timed out ahead of its invocation. With
        ``skip_timeout=False`` the execution timeout keeps real time: waits and retries
        past it still fire, and the execution times out only when its deadline comes.
        """
        with self._change(arn) as journal:
            if self._has_work(journal.tx, journal.row):
                return False
            moment = lifecycle.next_skippable(journal.tx, journal.row, skip_timeout=skip_timeout)
            real = None if skip_timeout else journal.now
            return moment is not None and lifecycle.fire_due_timers(
                journal, moment, timeout_as_of=real
            )

    def next_skippable(self, arn: str) -> datetime.datetime | None:
        """The moment a fast-forwarding runner may fire timers as of, or None.

        None means the next thing must be waited for in real time: a callback's timer
        comes first, or the execution timeout is next while a callback or chained
        invoke is open.
        """
        with self._store.transaction(write=False) as tx:
            return lifecycle.next_skippable(tx, self._row(tx.load_execution(arn), arn))

    # -- callbacks (SendDurableExecutionCallbackSuccess / Failure / Heartbeat) ---------

    def send_callback_success(self, callback_id: str, result: str | None = None) -> ExecutionRecord:
        """Complete a callback with ``result`` (the serialized payload, None for none).

        The execution needs an invocation now, so the runner invokes it again. Raises
        :class:`CallbackNotFoundError` for an unknown id, :class:`CallbackAlreadyCompletedError`
        once the callback or its execution has ended, :class:`InvalidCallbackRequestError`
        for a malformed id or a result over 1 MiB.
        """
        callbacks.check_result(result)
        return self._callback_change(
            callback_id, lambda journal, cb: callbacks.succeed(journal, cb, result)
        )

    def send_callback_failure(
        self, callback_id: str, error: ErrorObject | None = None
    ) -> ExecutionRecord:
        """Fail a callback with ``error``; raises as :meth:`send_callback_success` does."""
        callbacks.check_error(error)
        return self._callback_change(
            callback_id, lambda journal, cb: callbacks.fail(journal, cb, error)
        )

    def send_callback_heartbeat(self, callback_id: str) -> ExecutionRecord:
        """Keep a callback alive: its heartbeat timeout starts over. Raises as above."""
        return self._callback_change(callback_id, callbacks.heartbeat)

    def _callback_change(
        self, callback_id: str, change: Callable[[Journal, CallbackRow], None]
    ) -> ExecutionRecord:
        with self._store.transaction(write=False) as tx:
            found = callbacks.find(tx, callback_id)
        failure: CallbackRequestError | None = None
        with self._change(found.arn) as journal:
            lifecycle.fire_due_timers(journal, journal.now)  # a timeout that came first stands
            current = journal.tx.callback(callback_id) or found
            try:
                change(journal, current)
            except CallbackRequestError as error:
                failure = error  # the fired timers still commit
            record = _record(journal.row)
        if failure is not None:
            raise failure
        return record

    # -- chained invokes ----------------------------------------------------------------

    def register_function(
        self,
        name: str,
        *,
        durable: bool,
        execution_timeout_seconds: int = executions.DEFAULT_EXECUTION_TIMEOUT_SECONDS,
    ) -> None:
        """Make ``name`` a target chained invokes can reach.

        A durable function runs each invoke as its own execution (with this timeout); a
        plain one is called once by the runner. An invoke of a name nobody registered
        fails with ``ResourceNotFoundException``, as at the service.
        """
        if not EXECUTION_NAME.fullmatch(name):
            raise ValueError(f"Invalid function name {name!r}: use letters, digits, - and _.")
        if not 1 <= execution_timeout_seconds <= MAX_WAIT_SECONDS:
            raise ValueError(f"execution_timeout_seconds must be between 1 and {MAX_WAIT_SECONDS}.")
        self._functions[name] = FunctionSpec(durable, execution_timeout_seconds)

    def pending_calls(self, arn: str) -> list[PendingCall]:
        """The plain-function calls the execution's STARTED chained invokes still need."""
        with self._store.transaction(write=False) as tx:
            return invoke.pending_calls(tx, arn)

    def complete_chained_invoke(
        self,
        arn: str,
        operation_id: str,
        *,
        result: str | None = None,
        error: ErrorObject | None = None,
    ) -> bool:
        """Record a plain target's outcome (``error`` set: FAILED); whether it applied.

        An outcome for an execution that has ended, or an invoke that already ended, is
        dropped (False). A result over 1 MiB fails the invoke, as at the service.
        """
        status = OperationStatus.FAILED if error is not None else OperationStatus.SUCCEEDED
        with self._change(arn) as journal:
            lifecycle.fire_due_timers(journal, journal.now)
            return invoke.complete(journal, operation_id, status, result, error)

    def running_children(self, arn: str) -> list[str]:
        """ARNs of the child executions the execution's STARTED chained invokes wait for."""
        with self._store.transaction(write=False) as tx:
            return invoke.running_children(tx, arn)

    # -- durable-mp metadata (beside the history, never inside it) ---------------------

    def record_body_run(
        self, durable_execution_arn: str, operation_id: str, attempt: int, run: BodyRun
    ) -> None:
        """Remember where and when an attempt's body ran (the console draws it).

        It is saved in the transaction of the next change -- the attempt's own SUCCEED,
        RETRY or FAIL checkpoint follows at once -- so recording costs no transaction of
        its own; a process that dies before that change loses the run along with the
        attempt's outcome, which runs again.
        """
        row = BodyRunRow(
            durable_execution_arn,
            operation_id,
            attempt,
            run.executor,
            run.pid,
            run.thread,
            run.started_at,
            run.ended_at,
        )
        with self._unsaved_runs_lock:
            self._unsaved_runs.append(row)

    def body_runs(self, arn: str) -> list[BodyRunRow]:
        """The recorded body runs of an execution, in the order they started."""
        with self._store.transaction(write=False) as tx:
            return tx.body_runs(arn)

    def step_counts(self) -> dict[str, dict[str, int]]:
        """Each execution's STEP operations by status: ARN -> status -> how many."""
        counts: dict[str, dict[str, int]] = {}
        with self._store.transaction(write=False) as tx:
            for arn, status, count in tx.operation_counts("STEP"):
                counts.setdefault(arn, {})[status] = count
        return counts

    def data_version(self) -> int:
        """Changes whenever another process commits to the store (see ``Store``)."""
        return self._store.data_version()

    def change_counts(self) -> dict[str, tuple[str, int, int]]:
        """Each execution's status and change counters: ARN -> (status, operation
        version, history events). Every change of its operations or history moves one;
        a lease renewal, which commits too, moves none."""
        with self._store.transaction(write=False) as tx:
            return {
                row.arn: (row.status, row.version, row.event_count)
                for row in tx.list_executions()
            }

    def _save_body_runs(self, tx: Tx) -> list[BodyRunRow]:
        """Write the runs recorded so far into ``tx``; they are the caller's to put back
        (:meth:`_keep_unsaved`) if the transaction does not commit."""
        with self._unsaved_runs_lock:
            rows, self._unsaved_runs = self._unsaved_runs, []
        if rows:
            tx.put_body_runs(rows)
        return rows

    def _keep_unsaved(self, rows: list[BodyRunRow]) -> None:
        if rows:
            with self._unsaved_runs_lock:
                self._unsaved_runs[:0] = rows

    # -- history listeners --------------------------------------------------------------

    def add_listener(self, listener: HistoryListener) -> None:
        """Call ``listener(arn, event)`` for every history event appended from now on.

        Events this process appends are delivered as they commit; call
        :meth:`catch_up_listeners` to deliver those other processes appended.
        """
        self._listeners.add(listener)

    def catch_up_listeners(self, arn: str) -> None:
        """Deliver the events other processes appended to ``arn`` since the last delivery.

        The first call for an execution only marks where delivery starts.
        """
        self._listeners.catch_up(arn)

    def _events_after(self, arn: str, after: int) -> list[dict[str, Any]]:
        with self._store.transaction(write=False) as tx:
            return [history.present(event) for event in tx.events(arn, after=after)]

    def _last_event_id(self, arn: str) -> int:
        with self._store.transaction(write=False) as tx:
            return tx.last_event_id(arn)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> LocalService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------

    @contextmanager
    def _change(
        self, arn: str, missing: Callable[[], Exception] | None = None
    ) -> Iterator[Journal]:
        """One transaction changing one execution; listeners hear of it after commit.

        It also saves the body runs recorded since the last change (durable-mp's
        metadata), so they commit with the attempt's own checkpoint.
        """
        runs: list[BodyRunRow] = []
        try:
            with self._store.transaction() as tx:
                runs = self._save_body_runs(tx)
                row = tx.load_execution(arn)
                if row is None and missing is not None:
                    raise missing()
                journal = Journal(tx, self._row(row, arn), self._clock.now())
                yield journal
                journal.save()
        except BaseException:
            self._keep_unsaved(runs)  # rolled back: the next change saves them
            raise
        self._notify(journal)

    def _row(self, row: ExecutionRow | None, arn: str) -> ExecutionRow:
        if row is None:
            where = "the in-memory store" if self.path == ":memory:" else f"store {self.path}"
            raise ExecutionNotFoundError(arn, where)
        return row

    def _notify(self, journal: Journal) -> None:
        for changed in journal.all():
            if changed.appended:
                self._listeners.appended(changed.arn, int(changed.appended[0]["EventId"]))

    def _arn_of(self, arn_or_name: str) -> str:
        with self._store.transaction(write=False) as tx:
            row = tx.load_execution(arn_or_name) or tx.find_execution_by_name(arn_or_name)
            return self._row(row, arn_or_name).arn

    def _context(self) -> checkpoints.Context:
        return checkpoints.Context(
            self._page_size, self.region, self.account_id, dict(self._functions)
        )


def _as_on_the_wire(update: OperationUpdate) -> OperationUpdate:
    """The update as the boto3 path would put it on the wire: empty strings dropped,
    numbers as integers (``OperationUpdate.from_dict(update.to_dict())``). An update
    already in that form (every step START and SUCCEED) is returned as it is."""
    if (
        update.error is None
        and update.chained_invoke_options is None
        and update.parent_id != ""
        and update.name != ""
        and update.sub_type != ""
        and (
            update.step_options is None
            or type(update.step_options.next_attempt_delay_seconds) is int
        )
        and (update.wait_options is None or type(update.wait_options.wait_seconds) is int)
        and (
            update.callback_options is None
            or (
                type(update.callback_options.timeout_seconds) is int
                and type(update.callback_options.heartbeat_timeout_seconds) is int
            )
        )
        and (update.context_options is None or type(update.context_options.replay_children) is bool)
    ):
        return update
    return OperationUpdate.from_dict(update.to_dict())


def _record(row: ExecutionRow) -> ExecutionRecord:
    start = from_epoch(row.start_ts)
    assert start is not None
    return ExecutionRecord(
        arn=row.arn,
        name=row.name,
        function_name=row.function_name,
        status=row.status,
        input_payload=row.input_payload,
        result=row.result,
        error=lifecycle.stored_error(row),
        start_timestamp=start,
        end_timestamp=from_epoch(row.end_ts),
        invocation_count=row.invocation_count,
    )
