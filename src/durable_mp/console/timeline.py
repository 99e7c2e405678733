"""The timeline of one execution, as the console draws it.

Built from three sources: the operations (what exists, nested by parent, with their
status), the history events (when each attempt started and ended, retry delays, waits)
and durable-mp's body-run metadata (which worker process or thread ran each attempt's
body, from when to when, as measured there). Times are seconds since the execution
started, rounded to the millisecond, so the page needs no date arithmetic and the JSON
stays small; the arrays are columnar for the same reason (an execution can have tens of
thousands of operations).
"""

from __future__ import annotations

import datetime
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from durable_mp.lambda_service import Operation
    from durable_mp.local.store import BodyRunRow

_ATTEMPT_ENDS = {"StepSucceeded": "SUCCEEDED", "StepFailed": "FAILED"}


def _seconds(moment: datetime.datetime | None, origin: float) -> float | None:
    return None if moment is None else round(moment.timestamp() - origin, 3)


def _event_seconds(event: Mapping[str, Any], origin: float) -> float:
    stamp = event["EventTimestamp"]
    if isinstance(stamp, str):
        stamp = datetime.datetime.fromisoformat(stamp)
    return round(float(stamp.timestamp()) - origin, 3)


_EXECUTOR_ORDER = {"process": 0, "thread": 1, "inline": 2}


def _lanes(runs: Sequence[BodyRunRow]) -> tuple[list[dict[str, Any]], list[int]]:
    """The lanes (worker processes first, then threads, each by first start) and each
    run's lane: one lane per worker process, one per thread for thread and inline."""
    first_start: dict[tuple[str, int, str], float] = {}
    keys = []
    for run in runs:
        key = (run.executor, run.pid, "" if run.executor == "process" else run.thread)
        keys.append(key)
        first_start[key] = min(first_start.get(key, run.started_at), run.started_at)
    ordered = sorted(
        first_start, key=lambda key: (_EXECUTOR_ORDER.get(key[0], 3), first_start[key])
    )
    number = {key: index for index, key in enumerate(ordered)}
    lanes = [
        {
            "executor": executor,
            "pid": pid,
            "thread": thread,
            "label": f"worker pid {pid}"
            if executor == "process"
            else f"{executor} {thread} (pid {pid})",
        }
        for executor, pid, thread in ordered
    ]
    return lanes, [number[key] for key in keys]


def build_timeline(
    start: datetime.datetime,
    end: datetime.datetime | None,
    operations: Sequence[Operation],
    events: Iterable[Mapping[str, Any]],
    runs: Iterable[BodyRunRow],
    *,
    now: float,
) -> dict[str, Any]:
    """The JSON the page's timeline draws (see the module docstring for the units)."""
    # Operation timestamps have the API's millisecond precision, the execution's start
    # has microseconds: count from its millisecond, so nothing starts before zero.
    origin = math.floor(start.timestamp() * 1000) / 1000
    index: dict[str, int] = {}
    ids: list[str] = []
    parents: list[int] = []
    names: list[str | None] = []
    types: list[str] = []
    sub_types: list[str | None] = []
    statuses: list[str] = []
    starts: list[float | None] = []
    ends: list[float | None] = []
    waits: list[list[Any]] = []
    for op in operations:
        kind = op.operation_type.value
        if kind == "EXECUTION":
            continue
        index[op.operation_id] = len(ids)
        ids.append(op.operation_id)
        parents.append(index.get(op.parent_id or "", -1))
        names.append(op.name)
        types.append(kind)
        sub_types.append(op.sub_type)
        statuses.append(op.status.value)
        starts.append(_seconds(op.start_timestamp, origin))
        ends.append(_seconds(op.end_timestamp, origin))
        if op.wait_details is not None and op.wait_details.scheduled_end_timestamp is not None:
            waits.append(
                [len(ids) - 1, _seconds(op.wait_details.scheduled_end_timestamp, origin)]
            )
    attempts, retry_waits, invocations = _from_history(events, index, origin)
    known = [run for run in runs if run.op_id in index]
    lanes, lane_of_run = _lanes(known)
    body_runs = [
        [
            index[run.op_id],
            run.attempt,
            lane,
            round(run.started_at - origin, 3),
            round(run.ended_at - origin, 3),
        ]
        for run, lane in zip(known, lane_of_run, strict=True)
    ]
    return {
        "origin": origin,
        "end": _seconds(end, origin),
        "now": round(now - origin, 3) if end is None else None,  # stable once it ended
        "ops": {
            "id": ids,
            "parent": parents,
            "name": names,
            "type": types,
            "subType": sub_types,
            "status": statuses,
            "start": starts,
            "end": ends,
        },
        "attempts": attempts,
        "retryWaits": retry_waits,
        "waits": waits,
        "lanes": lanes,
        "runs": body_runs,
        "invocations": invocations,
    }


def _from_history(
    events: Iterable[Mapping[str, Any]], index: Mapping[str, int], origin: float
) -> tuple[list[list[Any]], list[list[Any]], list[list[Any]]]:
    """Step attempts, the delays between them, and the invocations, from the events.

    An attempt is [op, number, start, end or None, outcome]: outcome SUCCEEDED, FAILED,
    RETRY (another attempt follows; a wait-for-condition check that asked to poll again
    is one too), INTERRUPTED (a START came again before an end: the invocation running
    it died) or RUNNING. A retry delay is [op, from, until].
    """
    attempts: list[list[Any]] = []
    retry_waits: list[list[Any]] = []
    invocations: list[list[Any]] = []
    open_attempts: dict[int, list[Any]] = {}
    numbers: dict[int, int] = {}
    for event in events:
        kind = event.get("EventType")
        if kind == "InvocationCompleted":
            details = event.get("InvocationCompletedDetails") or {}
            began, ended = details.get("StartTimestamp"), details.get("EndTimestamp")
            if began is not None and ended is not None:
                invocations.append(
                    [
                        _event_seconds({"EventTimestamp": began}, origin),
                        _event_seconds({"EventTimestamp": ended}, origin),
                        "Error" not in details,
                    ]
                )
            continue
        op = index.get(event.get("Id") or "")
        if op is None:
            continue
        if kind == "StepStarted":
            previous = open_attempts.pop(op, None)
            at = _event_seconds(event, origin)
            if previous is not None:
                previous[3], previous[4] = at, "INTERRUPTED"
            numbers[op] = numbers.get(op, 0) + 1
            started: list[Any] = [op, numbers[op], at, None, "RUNNING"]
            open_attempts[op] = started
            attempts.append(started)
        elif kind in _ATTEMPT_ENDS:
            at = _event_seconds(event, origin)
            retry = (event.get(f"{kind}Details") or {}).get("RetryDetails") or {}
            delay = retry.get("NextAttemptDelaySeconds")
            attempt = open_attempts.pop(op, None)
            if attempt is None:  # an end without a START (an at-most-once interruption)
                numbers[op] = numbers.get(op, 0) + 1
                attempt = [op, numbers[op], at, None, "RUNNING"]
                attempts.append(attempt)
            attempt[3] = at
            attempt[4] = "RETRY" if delay is not None else _ATTEMPT_ENDS[kind]
            if delay is not None:
                retry_waits.append([op, at, round(at + float(delay), 3)])
    return attempts, retry_waits, invocations
