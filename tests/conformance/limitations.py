"""Where dex-local-runner itself departs from the service: the omissions, with evidence.

A requirement that fails on dex for durable-mp is excused only when (1) it is listed in
:data:`EMULATOR_LIMITATIONS`, (2) the official SDK fails it on dex with the identical
first error in the same session, and (3) with the listed omissions waived, durable-mp
passes every other expectation of the requirement. The list is checked on every run
(``test_conformance.py``): an entry whose official run stops failing that way, or that
no omission explains, fails the suite. Nothing else is excused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

Events = list[dict[str, Any]]
DEX = "aws_durable_execution_sdk_python_testing 1.4.0"


@dataclass(frozen=True)
class Omission:
    """Something dex never records, whatever the SDK does, and how to look past it."""

    name: str
    what: str
    evidence: str
    waive: Callable[[Events, Events], tuple[Events, Events]]  # (expected, actual) -> same


def _without_invocation_details(expected: Events, actual: Events) -> tuple[Events, Events]:
    """Expected InvocationCompleted events lose their InvocationCompletedDetails."""
    return [
        {k: v for k, v in event.items() if k != "InvocationCompletedDetails"}
        if event.get("EventType") == "InvocationCompleted"
        else event
        for event in expected
    ], actual


def _dropping(
    event_type: str, details: str, *keys: str
) -> Callable[[Events, Events], tuple[Events, Events]]:
    """A waiver: expected ``event_type`` events lose ``keys`` from their ``details``."""

    def waive(expected: Events, actual: Events) -> tuple[Events, Events]:
        changed = []
        for event in expected:
            if event.get("EventType") == event_type and isinstance(event.get(details), dict):
                kept = {k: v for k, v in event[details].items() if k not in keys}
                changed.append({**event, details: kept})
            else:
                changed.append(event)
        return changed, actual

    return waive


def _without_invocations(expected: Events, actual: Events) -> tuple[Events, Events]:
    """Both histories lose their InvocationCompleted events and are numbered again."""
    return _renumbered(expected), _renumbered(actual)


def _renumbered(events: Events) -> Events:
    kept, dropped = [], 0
    for event in sorted(events, key=lambda e: int(e.get("EventId", 0))):
        if event.get("EventType") == "InvocationCompleted":
            dropped += 1
            continue
        kept.append({**event, "EventId": int(event["EventId"]) - dropped})
    return kept


OMISSIONS: dict[str, Omission] = {
    omission.name: omission
    for omission in (
        Omission(
            "invocation-details",
            "InvocationCompleted events come without InvocationCompletedDetails "
            "(StartTimestamp, EndTimestamp, RequestId, Error)",
            f"{DEX}: executor.get_execution_history builds them with "
            "HistoryEvent.create_invocation_completed(...) and then renumbers every event "
            "through Event.from_event_with_id (model.py), which copies every *Details "
            "field except invocation_completed_details",
            _without_invocation_details,
        ),
        Omission(
            "failed-invocations",
            "an invocation that failed (here Runtime.ExitError: the runtime died) leaves no "
            "InvocationCompleted event",
            f"{DEX}: executor._retry_after_error schedules the retry without "
            "Execution.record_invocation_completion, the only source of InvocationCompleted "
            "events; and InvocationCompletedDetails has no Error field (model.py)",
            _without_invocations,
        ),
        Omission(
            "callback-timeouts",
            "CallbackStarted events come without Timeout and HeartbeatTimeout",
            f"{DEX}: Event.create_callback_event_started (model.py) reads them from the "
            "checkpoint update, but executor.get_execution_history passes that update only "
            "for RETRY and FAIL actions and chained-invoke starts",
            _dropping("CallbackStarted", "CallbackStartedDetails", "Timeout", "HeartbeatTimeout"),
        ),
        Omission(
            "chained-invoke-details",
            "ChainedInvokeStarted events come without ExecutedVersion and TenantId",
            f"{DEX}: Event.create_chained_invoke_event_started (model.py) never sets "
            'ExecutedVersion, and leaves TenantId out on purpose (its comment: "the '
            "service's history does not return it\")",
            _dropping(
                "ChainedInvokeStarted", "ChainedInvokeStartedDetails", "ExecutedVersion", "TenantId"
            ),
        ),
        Omission(
            "success-retry-details",
            "StepSucceeded events come without RetryDetails (CurrentAttempt)",
            f"{DEX}: Event.create_step_event_succeeded takes them from "
            "EventCreationContext.get_retry_details (model.py), which needs the checkpoint "
            "update; executor.get_execution_history passes it only for RETRY and FAIL",
            _dropping("StepSucceeded", "StepSucceededDetails", "RetryDetails"),
        ),
        Omission(
            "retry-payloads",
            "a step checkpointed with RETRY and a payload (a wait_for_condition poll and its "
            "state) gets a StepSucceeded event without Result",
            f"{DEX}: executor.get_execution_history rebuilds a RETRY's step details as "
            "StepDetails(attempt, error), dropping the payload",
            _dropping("StepSucceeded", "StepSucceededDetails", "Result"),
        ),
    )
}

# Requirement id -> the omissions that explain why it fails on dex for both SDKs alike.
# Judged from a full run (python -m tests.conformance.report prints it when it changes)
# and checked on every run of the suite.
EMULATOR_LIMITATIONS: dict[str, tuple[str, ...]] = {
    requirement: omissions
    for omissions, requirements in (
        (
            ("invocation-details",),
            "1-1 1-2 1-3 1-5 1-6 1-7 1-8 1-9 1-10 1-12 1-16 1-19 1-20 2-1 2-2 2-3 2-5 3-1 "
            "3-2 3-3 3-4 3-5 3-8 3-9 3-10 3-13 3-14 3-15 3-16 3-17 3-18 4-1 4-2 4-6 4-7 4-9 "
            "4-10 4-12 4-13 4-15 4-16 4-17 4-18 6-11 7-1 7-2 7-3 7-4 7-6 7-8 7-9 7-10 7-11 "
            "7-15 8-1 8-2 8-3 8-4 8-5 8-6 8-7 8-8 8-9 8-10 8-12 8-13 8-15 8-16 8-17 8-19 "
            "8-20 8-22 9-1 9-2 9-3 9-4 9-5 9-6 9-7 9-8 9-10 9-12 9-13 9-14 9-17 9-18 9-19 "
            "9-20 10-1 10-2 10-5 10-6 10-7 10-8 10-10 10-11 10-12 10-15 10-16 10-17 10-20",
        ),
        (
            ("invocation-details", "success-retry-details"),
            "1-11 1-14 1-15 3-7 10-3 10-13 10-21",
        ),
        (
            ("failed-invocations",),
            "1-17 3-12",
        ),
        (
            ("failed-invocations", "success-retry-details"),
            "1-18",
        ),
        (
            ("invocation-details", "callback-timeouts"),
            "4-3 4-4 4-8 4-11 7-5 7-12 7-14",
        ),
        (
            ("invocation-details", "chained-invoke-details"),
            "5-1 5-2 5-3 5-4 5-6 5-7 5-8 5-9 5-10 5-11 5-12 5-14 5-15 5-16",
        ),
        (
            ("invocation-details", "retry-payloads"),
            "6-1 6-3 6-4 6-5 6-12 6-13",
        ),
    )
    for requirement in requirements.split()
}


def waiver(names: tuple[str, ...]) -> Callable[[Events, Events], tuple[Events, Events]]:
    """The omissions ``names`` looked past, one after another."""

    def waive(expected: Events, actual: Events) -> tuple[Events, Events]:
        for name in names:
            expected, actual = OMISSIONS[name].waive(expected, actual)
        return expected, actual

    return waive


def waived(requirement_id: str) -> Callable[[Events, Events], tuple[Events, Events]] | None:
    """The waiver of ``requirement_id``'s listed omissions (None if it is not listed)."""
    names = EMULATOR_LIMITATIONS.get(requirement_id)
    return waiver(names) if names else None


def explain(requirement_id: str) -> str:
    return "; ".join(OMISSIONS[name].what for name in EMULATOR_LIMITATIONS.get(requirement_id, ()))
