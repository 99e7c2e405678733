"""DurableFunctionTestRunner on the embedded service: results, callbacks, invokes, time."""

from __future__ import annotations

import json
import os

import pytest

from durable_mp.lambda_service import ErrorObject, InvocationStatus, OperationStatus
from durable_mp.testing import DurableFunctionTestRunner, ExecutionStatus
from durable_mp.testing.exceptions import DurableFunctionsTestError
from durable_mp.testing.model import events_to_operations
from durable_mp.testing.operations import build_operation_tree
from tests.testing import handlers


def shape(operations):
    """What a test compares: name, type, status, result, nesting (ids and times left out)."""
    return [
        (op.name, op.operation_type.value, op.status.value, getattr(op, "result", None),
         shape(getattr(op, "child_operations", [])))
        for op in operations
    ]


def test_a_workflow_runs_to_its_end_with_time_skipped(tmp_path):
    with DurableFunctionTestRunner(handlers.workflow) as runner:
        arn = runner.run_async(input={"x": 21, "ledger": str(tmp_path / "ledger")}, timeout=60)
        callback_id = runner.wait_for_callback(arn, name="approval", timeout=60)
        runner.send_callback_success(callback_id, json.dumps({"ok": True}).encode())
        result = runner.wait_for_result(arn, timeout=60)
        history = runner.get_execution_history(arn, include_execution_data=True)

    assert result.status is InvocationStatus.SUCCEEDED
    assert result.execution_status is ExecutionStatus.SUCCEEDED
    assert json.loads(result.result) == {
        "doubled": 42,
        "retried": "ok after 3",
        "summary": 14,
        "approval": json.dumps({"ok": True}),
    }
    assert result.get_step("retried").attempt == 3
    wait = result.get_wait("overnight")
    assert (wait.scheduled_end_timestamp - wait.start_timestamp).total_seconds() >= 6 * 3600 - 1
    squares = result.get_context("squares")
    assert [op.status for op in squares.child_operations] == [OperationStatus.SUCCEEDED] * 3
    assert result.get_context("summary").get_step("sum").result == "14"
    assert result.get_callback("approval").callback_id == callback_id
    names = [op.name for op in result.get_all_operations()]
    assert names.count("square-0") == 1 and "sum" in names

    started = [e for e in history.events if e.event_type == "WaitStarted"]
    assert started[0].wait_started_details.duration == 6 * 3600
    assert started[0].step_started_details is None
    # The history alone tells the same tree (this is how the cloud runner reads it).
    assert shape(build_operation_tree(events_to_operations(history.events))) == shape(
        result.operations
    )


def test_step_bodies_run_in_worker_processes_by_default():
    with DurableFunctionTestRunner(handlers.where_steps_run) as runner:
        result = runner.run()
    places = json.loads(result.result)
    assert places["handler"] == os.getpid()
    assert places["step"] != os.getpid()


def test_without_skip_time_a_wait_takes_its_time():
    with DurableFunctionTestRunner(handlers.short_wait, skip_time=False) as runner:
        result = runner.run(execution_timeout=30)
    wait = result.get_wait("one-second")
    assert wait.status is OperationStatus.SUCCEEDED
    assert (wait.end_timestamp - wait.start_timestamp).total_seconds() >= 0.99


def test_the_execution_timeout_keeps_real_time_under_skip_time():
    with DurableFunctionTestRunner(handlers.never_called_back) as runner:
        result = runner.run(execution_timeout=1)
    assert result.status is InvocationStatus.FAILED
    assert result.execution_status is ExecutionStatus.TIMED_OUT
    assert "timed out" in result.error.message


def test_a_callback_failure_and_a_heartbeat():
    with DurableFunctionTestRunner(handlers.never_called_back) as runner:
        arn = runner.run_async(timeout=60)
        callback_id = runner.wait_for_callback(arn)
        runner.send_callback_heartbeat(callback_id)
        runner.send_callback_failure(callback_id, ErrorObject.from_message("no"))
        result = runner.wait_for_result(arn)
    assert result.status is InvocationStatus.FAILED
    assert result.get_callback("forever").status is OperationStatus.FAILED
    assert result.error.message == "no"


def test_waiting_for_a_callback_that_never_comes_times_out_and_close_stops_the_run():
    from durable_mp.local import LocalService

    service = LocalService()  # shared, so it outlives the runner
    runner = DurableFunctionTestRunner(handlers.never_called_back, store=service)
    arn = runner.run_async(timeout=60)
    with pytest.raises(TimeoutError, match="Callback did not become available"):
        runner.wait_for_callback(arn, name="another-name", timeout=1)
    runner.close()
    assert service.get_execution(arn).status == "STOPPED"


@pytest.mark.parametrize(
    ("given", "seen"),
    [("test", "test"), ('{"a": 1}', {"a": 1}), ({"a": 1}, {"a": 1}), (None, None), (7, 7)],
)
def test_input_is_sent_as_json_the_way_aws_runner_sends_it(given, seen):
    with DurableFunctionTestRunner(handlers.echo_input) as runner:
        result = runner.run(input=given)
    assert json.loads(result.result) == {"event": seen}


def test_chained_invokes_reach_registered_functions():
    with DurableFunctionTestRunner(handlers.invoker) as runner:
        runner.register_function("plain-target", handlers.plain_target).register_durable_function(
            "durable-target", handlers.durable_target
        )
        result = runner.run(input={"n": 4})
    assert result.status is InvocationStatus.SUCCEEDED, result.error
    assert json.loads(result.result) == {
        "plain": {"plain": 5, "function": "plain-target"},
        "durable": 40,
    }
    assert result.get_invoke("call-durable").status is OperationStatus.SUCCEEDED


def test_runs_on_one_runner_do_not_clash_over_the_execution_name():
    with DurableFunctionTestRunner(handlers.echo_input) as runner:
        first = runner.run(input=1)
        second = runner.run(input=2)
    assert (json.loads(first.result), json.loads(second.result)) == ({"event": 1}, {"event": 2})


def test_asking_for_an_operation_that_is_not_there_names_it():
    with DurableFunctionTestRunner(handlers.echo_input) as runner:
        result = runner.run()
    with pytest.raises(DurableFunctionsTestError, match="'missing' not found"):
        result.get_step("missing")


def test_a_sqlite_store_keeps_the_execution(tmp_path):
    path = tmp_path / "runs.db"
    with DurableFunctionTestRunner(handlers.echo_input, store=path) as runner:
        arn = runner.run_async(input={"kept": True})
        runner.wait_for_result(arn)
    from durable_mp.local import LocalService

    with LocalService(path) as service:
        assert json.loads(service.get_execution(arn).result) == {"event": {"kept": True}}
