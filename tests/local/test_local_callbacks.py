"""Callbacks on the local service: ids, completion from outside, timeouts, heartbeats."""

from __future__ import annotations

import datetime
import re
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from local_helpers import Driver, step_start, wait_start

from durable_mp.lambda_service import ErrorObject, OperationStatus
from durable_mp.local import (
    CallbackAlreadyCompletedError,
    CallbackNotFoundError,
    InvalidCallbackRequestError,
    LocalRunner,
    LocalService,
)

if TYPE_CHECKING:
    from pathlib import Path


def callback_start(
    op_id: str, name: str | None = None, timeout: int = 0, heartbeat: int = 0, **extra: Any
) -> dict[str, Any]:
    update: dict[str, Any] = {
        "Id": op_id,
        "Type": "CALLBACK",
        "Action": "START",
        "SubType": "Callback",
        "CallbackOptions": {"TimeoutSeconds": timeout, "HeartbeatTimeoutSeconds": heartbeat},
        **extra,
    }
    if name is not None:
        update["Name"] = name
    return update


def later(seconds: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)


def started(driver: Driver, op_id: str, **options: Any) -> str:
    """START a callback; its id, read from the checkpoint response as the SDK reads it."""
    output = driver.send(callback_start(op_id, **options))
    [operation] = [op for op in output.new_execution_state.operations if op.operation_id == op_id]
    assert operation.status is OperationStatus.STARTED
    assert operation.callback_details is not None
    return operation.callback_details.callback_id


def test_start_answers_with_an_unguessable_id(service: LocalService) -> None:
    driver = Driver(service)
    first = started(driver, "a", name="approval", timeout=30, heartbeat=10)
    second = started(driver, "b")
    assert re.fullmatch(r"[A-Za-z0-9]{43}", first) and first != second
    assert driver.arn not in first and "a" != first
    event = service.get_history(driver.arn)[1]
    assert event["EventType"] == "CallbackStarted" and event["Name"] == "approval"
    assert event["SubType"] == "Callback"
    assert event["CallbackStartedDetails"] == {
        "CallbackId": first,
        "Timeout": 30,
        "HeartbeatTimeout": 10,
    }
    assert service.get_history(driver.arn)[2]["CallbackStartedDetails"] == {"CallbackId": second}


def test_success_completes_it_and_asks_for_an_invocation(service: LocalService) -> None:
    driver = Driver(service)
    callback_id = started(driver, "cb", name="approval")
    driver.finish("PENDING")
    assert not service.has_work(driver.arn)
    record = service.send_callback_success(callback_id, '"ok"')
    assert record.arn == driver.arn and record.status == "RUNNING"
    assert service.has_work(driver.arn)
    operation = driver.operation("cb")
    assert operation.status is OperationStatus.SUCCEEDED
    assert operation.callback_details.result == '"ok"'
    assert operation.callback_details.callback_id == callback_id
    event = service.get_history(driver.arn)[-1]
    assert event["EventType"] == "CallbackSucceeded" and event["Name"] == "approval"
    assert event["CallbackSucceededDetails"] == {"Result": {"Payload": '"ok"', "Truncated": False}}
    assert driver.begin().event.updated_operation_ids == ["cb"]


def test_failure_carries_the_error_and_no_error_stays_empty(service: LocalService) -> None:
    driver = Driver(service)
    rejected = started(driver, "r")
    silent = started(driver, "s")
    service.send_callback_failure(rejected, ErrorObject("not approved", "RejectedError", None, None))
    service.send_callback_failure(silent)
    assert driver.operation("r").status is OperationStatus.FAILED
    assert driver.operation("r").callback_details.error.type == "RejectedError"
    failed = [e for e in service.get_history(driver.arn) if e["EventType"] == "CallbackFailed"]
    assert failed[0]["CallbackFailedDetails"]["Error"]["Payload"] == {
        "ErrorMessage": "not approved",
        "ErrorType": "RejectedError",
    }
    assert failed[1]["CallbackFailedDetails"]["Error"]["Payload"] == {}


def test_requests_the_api_rejects(service: LocalService) -> None:
    driver = Driver(service)
    callback_id = started(driver, "cb")
    with pytest.raises(CallbackNotFoundError, match="No callback with id") as unknown:
        service.send_callback_success("A" * 43)
    assert unknown.value.code == "ResourceNotFoundException"
    with pytest.raises(InvalidCallbackRequestError, match="is not a callback id"):
        service.send_callback_heartbeat("no spaces allowed")
    with pytest.raises(InvalidCallbackRequestError, match="larger than 1048576 bytes"):
        service.send_callback_success(callback_id, '"' + "x" * 1_048_576 + '"')
    service.send_callback_success(callback_id, None)
    assert driver.operation("cb").callback_details.result is None
    for again in (
        lambda: service.send_callback_success(callback_id, '"twice"'),
        lambda: service.send_callback_failure(callback_id),
        lambda: service.send_callback_heartbeat(callback_id),
    ):
        with pytest.raises(CallbackAlreadyCompletedError, match="is closed") as closed:
            again()
        assert closed.value.code == "CallbackTimeoutException"
    assert [e["EventType"] for e in service.get_history(driver.arn)].count("CallbackSucceeded") == 1


def test_a_callback_of_a_finished_execution_is_closed(service: LocalService) -> None:
    driver = Driver(service)
    callback_id = started(driver, "cb")
    driver.finish("FAILED", Error={"ErrorMessage": "gave up"})
    with pytest.raises(CallbackAlreadyCompletedError, match="has ended \\(FAILED\\)"):
        service.send_callback_success(callback_id, '"late"')
    assert driver.operation("cb").status is OperationStatus.STARTED


def test_the_timeout_fires_with_the_service_error_type(service: LocalService) -> None:
    driver = Driver(service)
    callback_id = started(driver, "cb", timeout=30)
    driver.send(wait_start("w", 60))
    driver.finish("PENDING")
    due = service.next_wakeup(driver.arn)
    assert due is not None and abs((due - later(30)).total_seconds()) < 2
    assert service.next_skippable(driver.arn) is None  # a callback's timer is never skipped
    assert service.fire_due_timers(driver.arn, as_of=due)
    operation = driver.operation("cb")
    assert operation.status is OperationStatus.TIMED_OUT
    assert operation.callback_details.error.type == "Callback.Timeout"
    assert driver.operation("w").status is OperationStatus.STARTED  # due later
    event = service.get_history(driver.arn)[-1]
    assert event["EventType"] == "CallbackTimedOut"
    assert event["CallbackTimedOutDetails"]["Error"]["Payload"] == {
        "ErrorMessage": "Callback timed out",
        "ErrorType": "Callback.Timeout",
    }
    assert service.has_work(driver.arn)
    with pytest.raises(CallbackAlreadyCompletedError, match="TIMED_OUT"):
        service.send_callback_success(callback_id, '"too late"')


def test_a_due_timeout_wins_over_a_late_success(store_path: Path) -> None:
    clock = SteppedClock()
    service = LocalService(store_path, clock=clock)
    driver = Driver(service)
    callback_id = started(driver, "cb", timeout=5)
    clock.moment += datetime.timedelta(seconds=6)
    with pytest.raises(CallbackAlreadyCompletedError):
        service.send_callback_success(callback_id, '"late"')
    assert driver.operation("cb").status is OperationStatus.TIMED_OUT  # and that commits
    service.close()


def test_heartbeats_push_the_heartbeat_deadline(store_path: Path) -> None:
    clock = SteppedClock()
    service = LocalService(store_path, clock=clock)
    driver = Driver(service)
    callback_id = started(driver, "cb", timeout=100, heartbeat=10)
    driver.finish("PENDING")
    events = len(service.get_history(driver.arn))
    for _ in range(3):
        clock.moment += datetime.timedelta(seconds=8)
        service.send_callback_heartbeat(callback_id)
        assert service.next_wakeup(driver.arn) == clock.moment + datetime.timedelta(seconds=10)
    assert len(service.get_history(driver.arn)) == events  # no event, no operation change
    assert not service.has_work(driver.arn)
    clock.moment += datetime.timedelta(seconds=10)
    assert service.fire_due_timers(driver.arn)
    operation = driver.operation("cb")
    assert operation.status is OperationStatus.TIMED_OUT
    assert operation.callback_details.error == ErrorObject(
        "Callback timed out on heartbeat", "Callback.Heartbeat", None, None
    )
    service.close()


def test_a_heartbeat_without_a_heartbeat_timeout_changes_nothing(service: LocalService) -> None:
    driver = Driver(service)
    callback_id = started(driver, "cb")
    before = service.next_wakeup(driver.arn)
    service.send_callback_heartbeat(callback_id)
    assert service.next_wakeup(driver.arn) == before
    assert driver.operation("cb").status is OperationStatus.STARTED


def test_another_connection_completes_it_and_listeners_catch_up(store_path: Path) -> None:
    service = LocalService(store_path)
    heard: list[str] = []
    service.add_listener(lambda arn, event: heard.append(event["EventType"]))
    driver = Driver(service)
    callback_id = started(driver, "cb", name="approval")
    driver.finish("PENDING")
    service.catch_up_listeners(driver.arn)
    assert heard == ["ExecutionStarted", "CallbackStarted", "InvocationCompleted"]

    other = LocalService(store_path)  # as `durable-mp callback succeed` in another process
    other.send_callback_success(callback_id, '"from afar"')
    other.close()

    assert service.has_work(driver.arn)
    assert heard[-1] == "InvocationCompleted"
    service.catch_up_listeners(driver.arn)
    assert heard[-1] == "CallbackSucceeded"
    driver.begin()
    driver.send(step_start("s"))
    assert heard[-1] == "StepStarted" and heard.count("CallbackSucceeded") == 1
    service.close()


def test_the_runner_resumes_when_a_callback_arrives_from_another_thread(
    service: LocalService,
) -> None:
    from durable_mp.lambda_service import OperationUpdate

    def handler(event: Any, context: Any) -> dict[str, Any]:
        operations = {op.operation_id: op for op in event.initial_execution_state.operations}
        if "cb" not in operations:
            event.service_client.checkpoint(
                event.durable_execution_arn,
                event.checkpoint_token,
                [OperationUpdate.from_dict(callback_start("cb", timeout=30))],
                None,
            )
            return {"Status": "PENDING"}
        if operations["cb"].status is OperationStatus.STARTED:
            return {"Status": "PENDING"}
        return {"Status": "SUCCEEDED", "Result": operations["cb"].callback_details.result}

    runner = LocalRunner(service, {"fn": handler}, fast_forward=True)
    arn = runner.start("fn")

    def answer() -> None:
        while True:
            ops = [op for op in service.get_operations(arn) if op.callback_details]
            if ops:
                time.sleep(0.3)
                service.send_callback_success(ops[0].callback_details.callback_id, '"approved"')
                return
            time.sleep(0.02)

    thread = threading.Thread(target=answer)
    thread.start()
    began = time.monotonic()
    record = runner.drive(arn)
    thread.join()
    assert record.status == "SUCCEEDED" and record.result == '"approved"'
    assert time.monotonic() - began < 5  # polled, not fast-forwarded to the timeout


def test_a_short_timeout_fires_in_real_time_under_the_runner(service: LocalService) -> None:
    from durable_mp.lambda_service import OperationUpdate

    def handler(event: Any, context: Any) -> dict[str, Any]:
        operations = {op.operation_id: op for op in event.initial_execution_state.operations}
        if "cb" not in operations:
            event.service_client.checkpoint(
                event.durable_execution_arn,
                event.checkpoint_token,
                [OperationUpdate.from_dict(callback_start("cb", heartbeat=1))],
                None,
            )
            return {"Status": "PENDING"}
        error = operations["cb"].callback_details.error
        return {"Status": "FAILED", "Error": error.to_dict()}

    began = time.monotonic()
    record = LocalRunner(service, {"fn": handler}, fast_forward=True).run("fn")
    assert 1.0 <= time.monotonic() - began < 5
    assert record.status == "FAILED"
    assert record.error is not None and record.error.type == "Callback.Heartbeat"


class SteppedClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.moment = datetime.datetime.now(datetime.UTC)

    def now(self) -> datetime.datetime:
        return self.moment
