"""Is an execution history well formed? The checks every fault in the campaign must pass.

A history (``GetDurableExecutionHistory`` events) is well formed when its EventIds are
1, 2, 3, ... without a gap or a repeat; it starts with ``ExecutionStarted``; an operation's
events start with its ``*Started`` event and nothing follows its success; a child
operation starts only inside a started parent; and, once the execution has ended, every
operation has ended too. While the execution runs (after a kill) an operation may
legitimately still be open: its last event is ``*Started``, or a failure its retry
follows.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

Event = dict[str, Any]

_ENDS = ("Succeeded", "Failed", "TimedOut", "Stopped", "Cancelled")
_EXECUTION_ENDS = {f"Execution{end}" for end in _ENDS}


def _phase(event: Event) -> str:
    kind: str = event["EventType"]
    for end in _ENDS:
        if kind.endswith(end):
            return end
    if kind.endswith("Started"):
        return "Started"
    return kind


def problems(events: list[Event], *, ended: bool) -> list[str]:
    """What is wrong with ``events`` (empty: well formed); ``ended``: the execution has
    ended, so nothing may be left open."""
    found: list[str] = []
    ids = [event.get("EventId") for event in events]
    if ids != list(range(1, len(events) + 1)):
        found.append(f"EventIds are not 1..{len(events)} in order: {ids}")
    if not events or events[0]["EventType"] != "ExecutionStarted":
        found.append("the history does not start with ExecutionStarted")
        return found
    execution_id = events[0].get("Id")
    by_operation: dict[str, list[Event]] = defaultdict(list)
    started: set[str] = set()
    for event in events:
        kind = event["EventType"]
        operation = event.get("Id")
        if kind == "InvocationCompleted" or operation is None or operation == execution_id:
            continue
        parent = event.get("ParentId")
        if _phase(event) == "Started" and parent and parent not in started:
            found.append(f"{kind} {event.get('Name')!r} (event {event['EventId']}) starts "
                         f"inside parent {parent}, which has not started")
        history = by_operation[operation]
        if history and _phase(history[-1]) == "Succeeded":
            found.append(f"{kind} {event.get('Name')!r} (event {event['EventId']}) follows "
                         "the operation's success")
        if not history and _phase(event) != "Started":
            found.append(f"{kind} {event.get('Name')!r} (event {event['EventId']}) is the "
                         "operation's first event")
        if _phase(event) == "Started":
            started.add(operation)
        history.append(event)
    last = events[-1]["EventType"]
    if ended:
        if last not in _EXECUTION_ENDS:
            found.append(f"the execution ended but its history ends with {last}")
        for operation, history in by_operation.items():
            if _phase(history[-1]) == "Started":
                found.append(f"{history[-1]['EventType']} {history[-1].get('Name')!r} "
                             f"(operation {operation}) never ended")
    elif ended_at := [e["EventId"] for e in events if e["EventType"] in _EXECUTION_ENDS]:
        found.append(f"the execution ended (event {ended_at[0]}) but was taken for running")
    return found


def ended(events: list[Event]) -> bool:
    """Whether the history shows the execution's end."""
    return any(event["EventType"] in _EXECUTION_ENDS for event in events)


def succeeded_steps(events: list[Event]) -> set[str]:
    """Names of the steps whose success is in the history."""
    return {event["Name"] for event in events if event["EventType"] == "StepSucceeded"}
