"""Chained invokes on the local service: durable and plain targets, unknown names, ends."""

from __future__ import annotations

import datetime
import time
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.exceptions import InvokeError
from local_helpers import Driver
from local_official_sdk import official_handler

from durable_mp.lambda_service import ErrorObject, OperationStatus
from durable_mp.local import LocalRunner, LocalService

if TYPE_CHECKING:
    from collections.abc import Callable


def invoke_start(
    op_id: str, function: str, payload: str | None = '{"n": 1}', **options: Any
) -> dict[str, Any]:
    update: dict[str, Any] = {
        "Id": op_id,
        "Type": "CHAINED_INVOKE",
        "Action": "START",
        "SubType": "ChainedInvoke",
        "Name": f"call-{op_id}",
        "ChainedInvokeOptions": {"FunctionName": function, **options},
    }
    if payload is not None:
        update["Payload"] = payload
    return update


def events(service: LocalService, arn: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in service.get_history(arn) if e["EventType"] == kind]


def test_a_durable_target_becomes_a_linked_child_execution(service: LocalService) -> None:
    service.register_function("child", durable=True, execution_timeout_seconds=600)
    driver = Driver(service)
    output = driver.send(invoke_start("i", "child:7", TenantId="tenant-1"))
    [operation] = output.new_execution_state.operations
    assert operation.status is OperationStatus.STARTED
    [child_arn] = service.running_children(driver.arn)
    child = service.get_execution(child_arn)
    assert (child.function_name, child.status, child.input_payload) == ("child", "RUNNING", '{"n": 1}')
    [started] = events(service, driver.arn, "ChainedInvokeStarted")
    assert started["Name"] == "call-i" and started["SubType"] == "ChainedInvoke"
    assert started["ChainedInvokeStartedDetails"] == {
        "FunctionName": "child:7",
        "Input": {"Payload": '{"n": 1}', "Truncated": False},
        "TenantId": "tenant-1",
        "ExecutedVersion": "7",
        "DurableExecutionArn": child_arn,
    }
    assert events(service, child_arn, "ExecutionStarted")[0]["ExecutionStartedDetails"][
        "ExecutionTimeout"
    ] == 600
    driver.finish("PENDING")
    assert service.has_work(child_arn) and not service.has_work(driver.arn)

    invocation = service.begin_invocation(child_arn)
    service.complete_invocation(invocation, output={"Status": "SUCCEEDED", "Result": '"done"'})
    assert service.running_children(driver.arn) == []
    done = driver.operation("i")
    assert done.status is OperationStatus.SUCCEEDED
    assert done.chained_invoke_details.result == '"done"'
    [succeeded] = events(service, driver.arn, "ChainedInvokeSucceeded")
    assert succeeded["ChainedInvokeSucceededDetails"] == {
        "Result": {"Payload": '"done"', "Truncated": False}
    }
    assert service.has_work(driver.arn)


def test_an_unknown_function_fails_in_the_start_response(service: LocalService) -> None:
    service.register_function("known", durable=False)
    driver = Driver(service)
    output = driver.send(invoke_start("i", "nowhere"))
    [operation] = output.new_execution_state.operations
    assert operation.status is OperationStatus.FAILED
    error = operation.chained_invoke_details.error
    assert error.type == "ResourceNotFoundException"
    assert error.message.startswith("Function not found: nowhere.") and "known" in error.message
    started, failed = service.get_history(driver.arn)[1:]
    assert started["EventType"] == "ChainedInvokeStarted"
    assert "Input" not in started["ChainedInvokeStartedDetails"]  # no input kept, as the service
    assert "DurableExecutionArn" not in started["ChainedInvokeStartedDetails"]
    assert failed["EventType"] == "ChainedInvokeFailed"
    assert failed["ChainedInvokeFailedDetails"]["Error"]["Payload"]["ErrorType"] == (
        "ResourceNotFoundException"
    )
    assert service.pending_calls(driver.arn) == []


def test_a_plain_target_is_a_call_owed_until_its_outcome_is_recorded(
    service: LocalService,
) -> None:
    service.register_function("echo", durable=False)
    driver = Driver(service)
    driver.send(invoke_start("i", "echo", '"hi"', TenantId="t"))
    driver.finish("PENDING")
    [call] = service.pending_calls(driver.arn)
    assert (call.arn, call.operation_id, call.function_name, call.payload, call.tenant_id) == (
        driver.arn,
        "i",
        "echo",
        '"hi"',
        "t",
    )
    assert "DurableExecutionArn" not in events(service, driver.arn, "ChainedInvokeStarted")[0][
        "ChainedInvokeStartedDetails"
    ]
    assert service.complete_chained_invoke(driver.arn, "i", result='{"echo": "hi"}')
    assert not service.complete_chained_invoke(driver.arn, "i", result='"again"')  # first end stands
    assert service.pending_calls(driver.arn) == []
    assert driver.operation("i").chained_invoke_details.result == '{"echo": "hi"}'
    assert service.has_work(driver.arn)


def test_an_oversized_plain_result_fails_the_invoke(service: LocalService) -> None:
    service.register_function("big", durable=False)
    driver = Driver(service)
    driver.send(invoke_start("i", "big"))
    service.complete_chained_invoke(driver.arn, "i", result='"' + "x" * 1_048_576 + '"')
    operation = driver.operation("i")
    assert operation.status is OperationStatus.FAILED
    assert "output payload size must be less than or equal to 1048576" in (
        operation.chained_invoke_details.error.message
    )


def test_child_ends_map_onto_the_parent_operation(service: LocalService) -> None:
    service.register_function("child", durable=True, execution_timeout_seconds=5)
    driver = Driver(service)
    driver.send(invoke_start("fails", "child"), invoke_start("times", "child"), invoke_start("stops", "child"))
    fails, times, stops = service.running_children(driver.arn)

    invocation = service.begin_invocation(fails)
    service.complete_invocation(
        invocation, output={"Status": "FAILED", "Error": {"ErrorType": "KeyError", "ErrorMessage": "k"}}
    )
    service.fire_due_timers(times, as_of=datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=6))
    service.stop_execution(stops, ErrorObject("operator said so", "Stopped", None, None))

    assert driver.operation("fails").status is OperationStatus.FAILED
    assert driver.operation("fails").chained_invoke_details.error == ErrorObject("k", "KeyError", None, None)
    timed_out = driver.operation("times")
    assert timed_out.status is OperationStatus.TIMED_OUT
    assert timed_out.chained_invoke_details.error == ErrorObject(
        "CHAINED_INVOKE timed out after 5 seconds.", "ChainedInvoke.Timeout", None, None
    )
    stopped = driver.operation("stops")
    assert stopped.status is OperationStatus.STOPPED
    assert stopped.chained_invoke_details.error == ErrorObject("operator said so", "Stopped", None, None)
    kinds = [e["EventType"] for e in service.get_history(driver.arn)][-3:]
    assert kinds == ["ChainedInvokeFailed", "ChainedInvokeTimedOut", "ChainedInvokeStopped"]


def test_a_stopped_parent_keeps_its_end_while_the_child_runs_on(service: LocalService) -> None:
    service.register_function("child", durable=True)
    driver = Driver(service)
    driver.send(invoke_start("i", "child"))
    [child] = service.running_children(driver.arn)
    service.stop_execution(driver.arn)
    assert service.get_execution(child).status == "RUNNING"  # as the service: not stopped
    invocation = service.begin_invocation(child)
    service.complete_invocation(invocation, output={"Status": "SUCCEEDED", "Result": '"late"'})
    assert service.get_execution(child).status == "SUCCEEDED"
    assert driver.operation("i").status is OperationStatus.STARTED  # the outcome is dropped
    assert service.get_history(driver.arn)[-1]["EventType"] == "ExecutionStopped"


def test_a_child_result_over_the_invoke_limit_fails_the_child(service: LocalService) -> None:
    service.register_function("child", durable=True)
    driver = Driver(service)
    driver.send(invoke_start("i", "child"))
    [child] = service.running_children(driver.arn)
    invocation = service.begin_invocation(child)
    big = '"' + "x" * 1_048_576 + '"'
    service.complete_invocation(invocation, output={"Status": "SUCCEEDED", "Result": big})
    record = service.get_execution(child)
    assert record.status == "FAILED"
    assert record.error is not None and "Execution output payload size" in (record.error.message or "")
    assert driver.operation("i").status is OperationStatus.FAILED


# -- the runner: targets run for real -----------------------------------------------------


def sdk(handler: Callable[[Any, DurableContext], Any]) -> Any:
    return official_handler(durable_execution(handler))


def test_the_runner_runs_durable_and_plain_targets(service: LocalService) -> None:
    def parent(event: Any, ctx: DurableContext) -> Any:
        doubled = ctx.invoke("doubler", event, name="durable")
        return ctx.invoke("shout", {"text": f"got {doubled}"}, name="plain")

    def doubler(event: int, ctx: DurableContext) -> int:
        ctx.wait(Duration.from_hours(1))  # fast-forwarded
        return ctx.step(lambda _: event * 2, name="double")

    def shout(event: dict[str, str], context: Any) -> str:
        assert context.function_name == "shout" and context.aws_request_id
        return event["text"].upper()

    runner = LocalRunner(
        service,
        {"parent": sdk(parent), "doubler": sdk(doubler)},
        plain_functions={"shout": shout},
        fast_forward=True,
    )
    record = runner.run("parent", 21)
    assert record.status == "SUCCEEDED" and record.result == '"GOT 42"'
    started = events(service, record.arn, "ChainedInvokeStarted")
    child = service.get_execution(started[0]["ChainedInvokeStartedDetails"]["DurableExecutionArn"])
    assert (child.function_name, child.status, child.result) == ("doubler", "SUCCEEDED", "42")


def test_target_failures_reach_the_parent_as_invoke_errors(service: LocalService) -> None:
    def parent(event: Any, ctx: DurableContext) -> Any:
        seen = []
        for target in ("failing", "raising", "unencodable", "ghost"):
            try:
                ctx.invoke(target, None, name=target)
            except InvokeError as error:
                seen.append(f"{target}: {error}")
        return seen

    def failing(event: Any, ctx: DurableContext) -> None:
        raise ValueError("child broke")

    def raising(event: Any, context: Any) -> None:
        raise KeyError("plain broke")

    runner = LocalRunner(
        service,
        {"parent": sdk(parent), "failing": sdk(failing)},
        plain_functions={"raising": raising, "unencodable": lambda event, context: {1, 2}},
    )
    record = runner.run("parent")
    assert record.status == "SUCCEEDED", record.error
    failed = {
        e["Name"]: e["ChainedInvokeFailedDetails"]["Error"]["Payload"]
        for e in events(service, record.arn, "ChainedInvokeFailed")
    }
    assert failed["failing"]["ErrorMessage"] == "child broke"
    assert (failed["raising"]["ErrorType"], failed["raising"]["ErrorMessage"]) == ("KeyError", "'plain broke'")
    assert failed["unencodable"]["ErrorType"] == "Runtime.MarshalError"
    assert failed["ghost"]["ErrorType"] == "ResourceNotFoundException"


def test_children_run_concurrently_and_can_invoke_further(service: LocalService) -> None:
    def parent(event: Any, ctx: DurableContext) -> Any:
        return ctx.parallel(
            [lambda branch, i=i: branch.invoke("middle", i, name=f"m{i}") for i in range(2)]
        ).get_results()

    def middle(event: int, ctx: DurableContext) -> Any:
        return ctx.invoke("leaf", event, name="leaf")

    spans: list[tuple[float, float]] = []

    def leaf(event: int, context: Any) -> int:
        began = time.monotonic()
        time.sleep(1)
        spans.append((began, time.monotonic()))
        return event + 100

    runner = LocalRunner(
        service,
        {"parent": sdk(parent), "middle": sdk(middle)},
        plain_functions={"leaf": leaf},
    )
    record = runner.run("parent")
    assert record.status == "SUCCEEDED", record.error
    assert record.result == "[100, 101]"
    (_, first_end), (second_start, _) = sorted(spans)
    assert second_start < first_end  # the two leaves slept at the same time


def test_a_call_owed_by_a_dead_process_is_made_by_the_next_runner(service: LocalService) -> None:
    service.register_function("echo", durable=False)
    driver = Driver(service)
    driver.send(invoke_start("i", "echo", '"again"'))  # then the process died mid-call

    def handler(event: Any, context: Any) -> dict[str, Any]:
        operations = {op.operation_id: op for op in event.initial_execution_state.operations}
        if operations["i"].status is OperationStatus.STARTED:
            return {"Status": "PENDING"}
        return {"Status": "SUCCEEDED", "Result": operations["i"].chained_invoke_details.result}

    runner = LocalRunner(service, {"fn": handler}, plain_functions={"echo": lambda e, c: [e, e]})
    record = runner.drive(driver.arn)
    assert record.status == "SUCCEEDED" and record.result == '["again", "again"]'


def test_fast_forward_never_times_out_a_parent_that_is_owed_an_invocation(
    service: LocalService,
) -> None:
    """A child that just ended gives its parent work: skipping ahead must not fire the
    parent's execution timeout before that invocation runs."""
    service.register_function("child", durable=True)
    driver = Driver(service)
    driver.send(invoke_start("i", "child"))
    driver.finish("PENDING")
    [child] = service.running_children(driver.arn)
    service.complete_invocation(
        service.begin_invocation(child), output={"Status": "SUCCEEDED", "Result": "null"}
    )
    assert service.has_work(driver.arn)
    assert service.skip_ahead(driver.arn) is False
    assert service.get_execution(driver.arn).status == "RUNNING"
