"""What the service does with an invocation's outcome: retries, limits, completion."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import pytest
from local_helpers import (
    Driver,
    execution_fail,
    execution_succeed,
    step_retry,
    step_start,
    step_succeed,
    wait_start,
)

from durable_mp.lambda_service import ErrorObject, OperationUpdate
from durable_mp.local import LocalRunner, LocalService

if TYPE_CHECKING:
    from pathlib import Path

    from durable_mp.invocation_input import DurableExecutionInvocationInputWithClient


def later(seconds: float = 60) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)


def completions(service: LocalService, arn: str) -> list[dict[str, Any]]:
    return [
        e["InvocationCompletedDetails"]
        for e in service.get_history(arn)
        if e["EventType"] == "InvocationCompleted"
    ]


def test_a_raising_handler_is_retried_five_times_then_fails(service: LocalService) -> None:
    calls: list[str] = []

    def handler(event: Any, context: Any) -> dict[str, Any]:
        calls.append(context.aws_request_id)
        raise RuntimeError(f"attempt {len(calls)}")

    runner = LocalRunner(service, {"fn": handler})
    arn = runner.start("fn", {"k": 1})
    first = runner.invoke_once(arn)
    assert first["errorType"] == "RuntimeError" and first["errorMessage"] == "attempt 1"
    record = runner.drive(arn)
    assert record.status == "FAILED"
    assert record.invocation_count == 5 and len(set(calls)) == 5
    assert record.error is not None and record.error.message == "attempt 5"
    details = completions(service, arn)
    assert [d["Error"]["Payload"]["ErrorMessage"] for d in details] == [
        f"attempt {n}" for n in range(1, 6)
    ]
    assert [d["RequestId"] for d in details] == calls
    history = service.get_history(arn)
    assert history[-1]["EventType"] == "ExecutionFailed"
    assert history[-1]["ExecutionFailedDetails"]["Error"]["Payload"]["ErrorType"] == "RuntimeError"


def test_a_clean_invocation_resets_the_failure_count(service: LocalService) -> None:
    script = iter(["raise"] * 4 + ["wait"] + ["raise"] * 4 + ["succeed"])

    def handler(event: DurableExecutionInvocationInputWithClient, context: Any) -> dict[str, Any]:
        action = next(script)
        if action == "raise":
            raise ValueError("flaky runtime")
        if action == "wait":
            event.service_client.checkpoint(
                event.durable_execution_arn,
                event.checkpoint_token,
                [OperationUpdate.from_dict(wait_start("w", 1))],
                None,
            )
            return {"Status": "PENDING"}
        return {"Status": "SUCCEEDED", "Result": '"fine"'}

    record = LocalRunner(service, {"fn": handler}, fast_forward=True).run("fn")
    assert record.status == "SUCCEEDED" and record.result == '"fine"'
    assert record.invocation_count == 10


def test_pending_with_nothing_pending_is_retried_three_times(service: LocalService) -> None:
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"Status": "PENDING"}

    record = LocalRunner(service, {"fn": handler}).run("fn")
    assert record.status == "FAILED"
    assert record.invocation_count == 3
    assert record.error is not None
    assert record.error.type == "InvalidParameterValueException"
    assert "no pending operations" in (record.error.message or "")
    assert all("Error" in d for d in completions(service, record.arn))


@pytest.mark.parametrize(
    "output",
    [
        {"Status": "FAILED", "Result": '"x"'},
        {"Status": "SUCCEEDED", "Error": {"ErrorMessage": "x"}},
        {"Status": "DONE"},
        {},
        {"Status": "SUCCEEDED", "Result": 42},
    ],
    ids=["failed-with-result", "succeeded-with-error", "unknown-status", "no-status", "result-not-text"],
)
def test_an_invalid_output_fails_the_execution_at_once(
    service: LocalService, output: dict[str, Any]
) -> None:
    record = LocalRunner(service, {"fn": lambda event, context: output}).run("fn")
    assert record.status == "FAILED"
    assert record.invocation_count == 1
    assert record.error is not None and record.error.type == "InvalidParameterValueException"


def test_a_handler_that_returns_no_dict_fails_the_execution(service: LocalService) -> None:
    record = LocalRunner(service, {"fn": lambda event, context: "oops"}).run("fn")  # type: ignore[arg-type,return-value]
    assert record.status == "FAILED" and record.invocation_count == 1


def test_failed_output_fails_the_execution_with_its_error(service: LocalService) -> None:
    error = {"ErrorMessage": "no", "ErrorType": "app.Denied", "StackTrace": ["line"]}
    record = LocalRunner(service, {"fn": lambda e, c: {"Status": "FAILED", "Error": error}}).run("fn")
    assert record.status == "FAILED"
    assert record.error == ErrorObject.from_dict(error)
    history = service.get_history(record.arn)
    assert [e["EventType"] for e in history] == [
        "ExecutionStarted",
        "InvocationCompleted",
        "ExecutionFailed",
    ]
    assert history[-1]["ExecutionFailedDetails"]["Error"] == {"Payload": error, "Truncated": False}
    assert "Error" not in history[1]["InvocationCompletedDetails"]


def test_a_result_checkpointed_on_the_execution_is_kept(service: LocalService) -> None:
    driver = Driver(service)
    output = driver.send(step_start("s"), step_succeed("s"), execution_succeed('"huge"'))
    assert output.checkpoint_token is None
    assert service.get_execution(driver.arn).status == "SUCCEEDED"
    record = driver.finish("SUCCEEDED", Result="")
    assert record.status == "SUCCEEDED" and record.result == '"huge"'
    assert driver.event_types()[-2:] == ["InvocationCompleted", "ExecutionSucceeded"]
    assert service.get_history(driver.arn)[-1]["ExecutionSucceededDetails"]["Result"]["Payload"] == '"huge"'


def test_an_error_checkpointed_on_the_execution_is_kept(service: LocalService) -> None:
    driver = Driver(service)
    assert driver.send(execution_fail()).checkpoint_token is None
    record = driver.finish("FAILED")
    assert record.status == "FAILED"
    assert record.error is not None and record.error.type == "RuntimeError"
    assert driver.event_types()[-2:] == ["InvocationCompleted", "ExecutionFailed"]


def test_pending_is_valid_while_a_change_is_unseen(service: LocalService) -> None:
    driver = Driver(service)
    driver.send(wait_start("w", 1))
    service.fire_due_timers(driver.arn, as_of=later())  # completes during the invocation
    driver.finish("PENDING")  # the handler never saw it: valid, and there is work
    assert service.has_work(driver.arn)
    assert "Error" not in completions(service, driver.arn)[-1]
    assert driver.begin().event.updated_operation_ids == ["w"]


def test_pending_after_seeing_everything_is_invalid(service: LocalService) -> None:
    driver = Driver(service)
    driver.send(wait_start("w", 1))
    service.fire_due_timers(driver.arn, as_of=later())
    driver.send()  # the response shows the wait SUCCEEDED
    driver.finish("PENDING")
    assert completions(service, driver.arn)[-1]["Error"]["Payload"]["ErrorType"] == (
        "InvalidParameterValueException"
    )


def test_a_step_that_became_ready_must_run(service: LocalService) -> None:
    driver = Driver(service)
    driver.send(step_start("s"))
    driver.send(step_retry("s", delay=1))
    service.fire_due_timers(driver.arn, as_of=later())
    driver.send()  # the handler sees READY, but suspends anyway
    driver.finish("PENDING")
    assert "Error" not in completions(service, driver.arn)[-1]
    assert service.has_work(driver.arn)
    driver.begin()
    driver.finish("PENDING")  # ignored it a second time: nothing can wake it now
    assert "Error" in completions(service, driver.arn)[-1]


def test_an_interrupted_invocation_is_recorded_but_not_counted(store_path: Path) -> None:
    first = LocalService(store_path, invocation_retry_delay=0.01)
    driver = Driver(first)
    driver.send(step_start("s"))
    crashed_request = driver.invocation.request_id
    first.close()  # the process dies: the invocation never completes

    service = LocalService(store_path, invocation_retry_delay=0.01)
    assert service.has_work(driver.arn)
    seen: list[list[str]] = []

    def handler(event: DurableExecutionInvocationInputWithClient, context: Any) -> dict[str, Any]:
        seen.append([op.operation_id for op in event.initial_execution_state.operations])
        event.service_client.checkpoint(
            event.durable_execution_arn,
            event.checkpoint_token,
            [OperationUpdate.from_dict(step_succeed("s"))],
            None,
        )
        return {"Status": "SUCCEEDED", "Result": '"resumed"'}

    record = LocalRunner(service, {"fn": handler}).drive(driver.arn)
    assert record.status == "SUCCEEDED" and record.invocation_count == 2
    assert seen == [[driver.arn.split("/")[-1], "s"]]
    crash = completions(service, driver.arn)[0]
    assert crash["RequestId"] == crashed_request
    assert crash["Error"]["Payload"]["ErrorType"] == "Runtime.ExitError"
    assert "not counted as a failed invocation" in crash["Error"]["Payload"]["ErrorMessage"]
    assert service.get_execution(driver.arn).status == "SUCCEEDED"
    service.close()


def test_interrupted_invocations_never_fail_the_execution(service: LocalService) -> None:
    driver = Driver(service)
    for _ in range(7):
        driver.begin()  # each finds the previous one still open: its runner is gone
    record = service.get_execution(driver.arn)
    assert record.status == "RUNNING" and record.invocation_count == 8
    lost = [c["Error"]["Payload"]["ErrorType"] for c in completions(service, driver.arn)]
    assert lost == ["Runtime.ExitError"] * 7
    assert service.has_work(driver.arn)


def test_interruptions_leave_the_count_of_real_failures_as_it_was(service: LocalService) -> None:
    driver = Driver(service)
    boom = ErrorObject.from_message("boom")
    for _ in range(4):
        service.complete_invocation(driver.invocation, error=boom)  # a real failure
        driver.begin()
        driver.begin()  # the one before was interrupted: it does not count
    assert service.get_execution(driver.arn).status == "RUNNING"  # 4 failures so far
    service.complete_invocation(driver.invocation, error=boom)  # the 5th in a row
    record = service.get_execution(driver.arn)
    assert record.status == "FAILED" and record.error is not None
    assert record.error.message == "boom"
    types = [c.get("Error", {}).get("Payload", {}).get("ErrorType") for c in completions(service, driver.arn)]
    assert types == [None, "Runtime.ExitError"] * 4 + [None], types


def test_the_outcome_of_a_superseded_invocation_is_ignored(service: LocalService) -> None:
    driver = Driver(service)
    stale = driver.invocation
    driver.begin()
    before = driver.event_types()
    record = service.complete_invocation(stale, output={"Status": "SUCCEEDED", "Result": '"x"'})
    assert record.status == "RUNNING"
    assert driver.event_types() == before


def test_listeners_hear_every_event_in_order(service: LocalService) -> None:
    heard: list[tuple[str, dict[str, Any]]] = []
    service.add_listener(lambda arn, event: heard.append((arn, event)))
    service.add_listener(lambda arn, event: 1 / 0)  # a broken listener changes nothing
    driver = Driver(service)
    driver.send(step_start("s"), step_succeed("s"))
    driver.finish("SUCCEEDED", Result='"r"')
    assert [event for _, event in heard] == service.get_history(driver.arn)
    assert {arn for arn, _ in heard} == {driver.arn}
    assert isinstance(heard[0][1]["EventTimestamp"], datetime.datetime)
