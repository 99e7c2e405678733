"""History events as tests read them, and which callback a test may answer."""

from __future__ import annotations

import datetime

import pytest

from durable_mp.testing.exceptions import DurableFunctionsTestError
from durable_mp.testing.model import Event, callback_id_from_events, events_to_operations

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def event(kind, event_id, op=None, name=None, **details):
    return Event.from_dict({
        "EventType": kind, "EventId": event_id, "Id": op, "Name": name,
        "EventTimestamp": NOW, f"{kind}Details": details,
    })


def test_details_read_with_snake_case_names():
    started = event("CallbackStarted", 2, "op1", "approval", CallbackId="cb-1", Timeout=60)
    assert started.callback_started_details.callback_id == "cb-1"
    assert started.callback_started_details.timeout == 60
    assert started.callback_started_details.heartbeat_timeout is None
    assert started.step_started_details is None
    succeeded = event("StepSucceeded", 3, "op2", "s", Result={"Payload": "1", "Truncated": False})
    assert succeeded.step_succeeded_details.result.payload == "1"


def test_a_callback_counts_once_its_invocation_has_ended():
    started = event("CallbackStarted", 2, "op1", "approval", CallbackId="cb-1")
    assert callback_id_from_events([started]) is None
    ended = event("InvocationCompleted", 3)
    assert callback_id_from_events([started, ended]) == "cb-1"
    assert callback_id_from_events([started, ended], name="approval") == "cb-1"
    assert callback_id_from_events([started, ended], name="other") is None


def test_a_named_callback_that_has_ended_is_an_error_and_the_latest_open_one_wins():
    first = event("CallbackStarted", 2, "op1", "a", CallbackId="cb-1")
    second = event("CallbackStarted", 3, "op2", "b", CallbackId="cb-2")
    ended = event("InvocationCompleted", 4)
    done = event("CallbackSucceeded", 5, "op2", "b", Result={"Payload": "x"})
    assert callback_id_from_events([first, second, ended]) == "cb-2"
    assert callback_id_from_events([first, second, ended, done]) == "cb-1"
    with pytest.raises(DurableFunctionsTestError, match="b has already completed"):
        callback_id_from_events([first, second, ended, done], name="b")


def test_events_fold_into_operations():
    ops = events_to_operations([
        event("ExecutionStarted", 1, "ex", "run", Input={"Payload": "{}"}),
        event("StepStarted", 2, "s1", "flaky"),
        event("StepFailed", 3, "s1", "flaky", Error={"Payload": {"ErrorMessage": "boom"}},
              RetryDetails={"CurrentAttempt": 1, "NextAttemptDelaySeconds": 5}),
        event("StepSucceeded", 4, "s1", "flaky", Result={"Payload": "7"},
              RetryDetails={"CurrentAttempt": 2}),
        event("InvocationCompleted", 5),
    ])
    execution, step = ops
    assert execution.execution_details.input_payload == "{}"
    assert (step.status.value, step.step_details.attempt, step.result) == ("SUCCEEDED", 2, "7")
    assert step.step_details.next_attempt_timestamp == NOW + datetime.timedelta(seconds=5)
