"""What the console reads from a store, and the few changes it may make to one.

Everything goes through :class:`~durable_mp.local.LocalService`, so the console sees the
store exactly as ``durable-mp list`` / ``history`` do (owners included) and changes it
only the way the ``callback`` and ``stop`` commands do. A store the console cannot write
is opened as those commands open it, read-only (see :func:`must_read_only`): reads never
take SQLite's write lock, so a runner writing the same file from another process is
never held up, and every action is refused up front.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_mp.console.timeline import build_timeline
from durable_mp.lambda_service import ErrorObject, OperationStatus, OperationType

if TYPE_CHECKING:
    from durable_mp.local import ExecutionRecord, LocalService
    from durable_mp.local.store import LeaseRow

_BRIEF_FIELDS = ("CurrentAttempt", "NextAttemptDelaySeconds")
MAX_ERROR_TEXT = 4096


class ConsoleRequestError(Exception):
    """A request the console refuses; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def must_read_only(path: str | os.PathLike[str], *, asked: bool = False) -> bool:
    """Whether the console opens the store read-only: when asked, or when this process
    may not write it (the file, or its directory, where SQLite keeps ``-wal``/``-shm``)."""
    directory = Path(path).resolve().parent
    return asked or not (os.access(path, os.W_OK) and os.access(directory, os.W_OK))


class StoreView:
    """The console's reads (JSON-ready dicts) and actions over one store."""

    def __init__(self, service: LocalService) -> None:
        self.service = service
        self._actions = 0  # this process's own changes (data_version counts others')
        self._lock = threading.Lock()
        self._data_version: int | None = None
        self._counts: dict[str, tuple[str, int, int]] = {}

    @property
    def read_only(self) -> bool:
        return self.service.read_only

    @property
    def path(self) -> str:
        return self.service.path

    def change_stamp(self) -> tuple[object, ...]:
        """Differs from the previous value whenever something the console shows changed.

        Cheap to poll: the executions' change counters are read again only when another
        process committed (``data_version``), and running runners commit every second
        just to renew their leases, which changes nothing shown. Who drives what is
        checked every time, since a runner that dies commits nothing.
        """
        with self._lock:
            version = self.service.data_version()
            if version != self._data_version:
                self._data_version = version
                self._counts = self.service.change_counts()
            owners = {
                arn: (lease.owner_id, lease.acquired_ts)
                for arn, lease in self.service.execution_owners().items()
            }
            return self._counts, owners, self._actions

    # -- reads ---------------------------------------------------------------------

    def executions(self) -> list[dict[str, Any]]:
        """Every execution, newest first, with its step progress."""
        now = time.time()
        counts = self.service.step_counts()
        owners = self.service.execution_owners()
        records = self.service.list_executions()
        return [
            _summary(record, counts.get(record.arn, {}), owners.get(record.arn), now)
            for record in reversed(records)
        ]

    def execution(self, name: str) -> dict[str, Any]:
        """One execution: summary, payloads, timeline, pending callbacks."""
        record = self._record(name)
        now = time.time()
        operations = self.service.get_operations(record.arn)
        events = self.service.get_history_json(record.arn)
        runs = self.service.body_runs(record.arn)
        counts = self.service.step_counts().get(record.arn, {})
        owner = self.service.owner_of(record.arn)
        callbacks = [
            {
                "callbackId": op.callback_details.callback_id,
                "operationId": op.operation_id,
                "name": op.name,
                "started": op.start_timestamp.timestamp() if op.start_timestamp else None,
            }
            for op in operations
            if op.operation_type is OperationType.CALLBACK
            and op.status is OperationStatus.STARTED
            and op.callback_details is not None
        ]
        return {
            "summary": _summary(record, counts, owner, now),
            "input": record.input_payload,
            "result": record.result,
            "error": record.error.to_dict() if record.error is not None else None,
            "timeline": build_timeline(
                record.start_timestamp, record.end_timestamp, operations, events, runs, now=now
            ),
            "callbacks": callbacks if record.status == "RUNNING" else [],
            "eventCount": len(events),
        }

    def events(self, name: str) -> dict[str, Any]:
        """The history as table rows: [id, type, seconds since start, op id, name, brief]."""
        record = self._record(name)
        origin = record.start_timestamp.timestamp()
        rows = []
        for event in self.service.get_history_json(record.arn):
            at = datetime.datetime.fromisoformat(event["EventTimestamp"]).timestamp()
            rows.append(
                [
                    event["EventId"],
                    event["EventType"],
                    round(at - origin, 3),
                    event.get("Id"),
                    event.get("Name"),
                    _brief(event),
                ]
            )
        return {"origin": origin, "rows": rows}

    def event(self, name: str, event_id: int) -> dict[str, Any]:
        """One history event, in full, as ``durable-mp history --json`` prints it."""
        record = self._record(name)
        for event in self.service.get_history_json(record.arn):
            if event["EventId"] == event_id:
                return event
        raise ConsoleRequestError(404, f"execution {name} has no event {event_id}")

    def full_history(self, name: str) -> list[dict[str, Any]]:
        return self.service.get_history_json(self._record(name).arn)

    def _record(self, name: str) -> ExecutionRecord:
        from durable_mp.local import ExecutionNotFoundError

        record = self.service.find_execution(name)
        if record is None and name.startswith("arn:"):
            try:
                record = self.service.get_execution(name)
            except ExecutionNotFoundError:
                record = None
        if record is None:
            raise ConsoleRequestError(404, f"no execution named {name!r} in this store")
        return record

    # -- actions -------------------------------------------------------------------

    def callback(self, callback_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """Succeed, fail or heartbeat a callback, as ``durable-mp callback`` does."""
        from durable_mp.local import CallbackRequestError

        self._writable()
        try:
            if action == "succeed":
                record = self.service.send_callback_success(callback_id, _result(body))
            elif action == "fail":
                record = self.service.send_callback_failure(callback_id, _error(body))
            elif action == "heartbeat":
                record = self.service.send_callback_heartbeat(callback_id)
            else:
                raise ConsoleRequestError(400, f"unknown callback action {action!r}")
        except CallbackRequestError as rejected:
            raise ConsoleRequestError(409, f"{rejected} ({rejected.code})") from None
        self._changed()
        return {"execution": record.name, "status": record.status}

    def stop(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Stop a running execution, as ``durable-mp stop`` does (ending one that has
        ended changes nothing)."""
        self._writable()
        record = self._record(name)
        reason = body.get("message")
        error = ErrorObject.from_message(str(reason)[:MAX_ERROR_TEXT]) if reason else None
        stopped = self.service.stop_execution(record.arn, error)
        self._changed()
        return {"execution": stopped.name, "status": stopped.status}

    def _writable(self) -> None:
        if self.read_only:
            raise ConsoleRequestError(
                403, "this store is open read-only; the console cannot change it"
            )

    def _changed(self) -> None:
        with self._lock:
            self._actions += 1

    def close(self) -> None:
        self.service.close()


def _summary(
    record: ExecutionRecord, counts: dict[str, int], owner: LeaseRow | None, now: float
) -> dict[str, Any]:
    start = record.start_timestamp.timestamp()
    end = record.end_timestamp.timestamp() if record.end_timestamp else None
    return {
        "name": record.name,
        "arn": record.arn,
        "function": record.function_name,
        "status": record.status,
        "start": start,
        "end": end,
        "duration": round((end if end is not None else now) - start, 3),
        "owner": _owner(owner),
        "invocations": record.invocation_count,
        "steps": {
            "done": counts.get("SUCCEEDED", 0),
            "running": counts.get("STARTED", 0),
            "failed": counts.get("FAILED", 0),
            "waiting": counts.get("PENDING", 0) + counts.get("READY", 0),
        },
    }


def _owner(lease: LeaseRow | None) -> dict[str, Any] | None:
    """The live runner driving an execution (its lease), or None when nobody does."""
    if lease is None:
        return None
    return {"pid": lease.pid, "host": lease.host, "since": lease.acquired_ts}


def _brief(event: dict[str, Any]) -> str:
    """A few words about an event for its table row (the full JSON is one click away)."""
    kind = event["EventType"]
    details = event.get(f"{kind}Details") or {}
    parts: list[str] = []
    retry = details.get("RetryDetails") or {}
    if "CurrentAttempt" in retry:
        parts.append(f"attempt {retry['CurrentAttempt']}")
    if "NextAttemptDelaySeconds" in retry:
        parts.append(f"retry in {retry['NextAttemptDelaySeconds']} s")
    if "Duration" in details:
        parts.append(f"{details['Duration']} s")
    if "CallbackId" in details:
        parts.append(f"callback {details['CallbackId'][:12]}…")
    error = (details.get("Error") or {}).get("Payload")
    if error:
        parts.append(f"{error.get('ErrorType', 'Error')}: {error.get('ErrorMessage', '')}")
    return ", ".join(parts)


def _result(body: dict[str, Any]) -> str | None:
    """The callback result: JSON text, or nothing."""
    text = body.get("result")
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise ConsoleRequestError(400, "result must be JSON text")
    try:
        json.loads(text)
    except json.JSONDecodeError as problem:
        raise ConsoleRequestError(
            400, f"the result is not valid JSON ({problem}); quote strings, e.g. \"ok\""
        ) from None
    return text


def _error(body: dict[str, Any]) -> ErrorObject:
    message = str(body.get("message") or "Failed from the durable-mp console")
    error_type = body.get("type") or None
    kind = str(error_type) if error_type else None
    return ErrorObject(message[:MAX_ERROR_TEXT], kind, None, None)
