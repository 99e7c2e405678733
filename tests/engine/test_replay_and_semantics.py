"""Replay, retries, step semantics and output mapping, against an in-memory service.

The executor is ``inline`` or ``thread`` here so the tests isolate the engine; the
process executor has its own tests.
"""

from __future__ import annotations

import json
import logging

import pytest

from durable_mp import (
    ChildConfig,
    Duration,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    StepError,
    StepSemantics,
    create_retry_strategy,
    durable_execution,
    durable_step,
)
from durable_mp.exceptions import InvalidEventError
from durable_mp.lambda_service import OperationAction, OperationType
from durable_mp.types import LocalLambdaContext
from tests.support.fake_service import FakeService, drive

CTX = LocalLambdaContext(aws_request_id="test")


def fast_retry(attempts: int = 3):
    return create_retry_strategy(
        RetryStrategyConfig(max_attempts=attempts, initial_delay=Duration.from_seconds(1))
    )


@pytest.fixture(params=["inline", "thread"])
def executor(request):
    return request.param


def test_steps_wait_child_and_retry_succeed(executor):
    calls: list[str] = []

    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        a = ctx.step(lambda _: calls.append("a") or "A", name="a")

        def flaky(step_ctx):
            calls.append(f"flaky{step_ctx.attempt}")
            if step_ctx.attempt < 2:
                raise ValueError("boom")
            return "B"

        b = ctx.step(flaky, name="flaky", config=StepConfig(retry_strategy=fast_retry()))
        ctx.wait(Duration.from_seconds(1), name="pause")
        c = ctx.run_in_child_context(
            lambda child: child.step(lambda _: "C", name="inner"), name="kid"
        )
        return {"a": a, "b": b, "c": c, "n": event["n"]}

    service = FakeService(json.dumps({"n": 7}))
    output = drive(handler, service)
    assert output == {
        "Status": "SUCCEEDED",
        "Result": json.dumps({"a": "A", "b": "B", "c": "C", "n": 7}),
    }
    assert calls == ["a", "flaky1", "flaky2"]
    actions = [(u.operation_type, u.action, u.name) for call in service.calls for u in call]
    assert (OperationType.STEP, OperationAction.RETRY, "flaky") in actions
    assert actions[-1] == (OperationType.CONTEXT, OperationAction.SUCCEED, "kid")


def test_replay_of_finished_execution_runs_no_body(executor):
    calls: list[str] = []

    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        x = ctx.step(lambda _: calls.append("x") or 1, name="x")
        y = ctx.run_in_child_context(lambda c: c.step(lambda _: calls.append("y") or 2), name="c")
        return x + y

    service = FakeService()
    assert drive(handler, service)["Result"] == "3"
    calls.clear()
    checkpoints = len(service.calls)
    assert drive(handler, service) == {"Status": "SUCCEEDED", "Result": "3"}
    assert calls == []
    assert len(service.calls) == checkpoints  # replay sends nothing


def test_non_determinism_fails_execution(executor):
    version = {"v": 1}

    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        if version["v"] == 1:
            ctx.step(lambda _: 1, name="fetch")
        else:
            ctx.wait(Duration.from_seconds(1), name="pause")
        ctx.wait(Duration.from_seconds(1))
        return "done"

    service = FakeService()
    first = handler(service.invocation(), CTX)
    assert first["Status"] == "PENDING"
    version["v"] = 2
    service.fire_timers(force=True)
    second = handler(service.invocation(), CTX)
    assert second["Status"] == "FAILED"
    error = second["Error"]
    assert error["ErrorType"] == "durable_mp.exceptions.NonDeterministicExecutionError"
    assert "type STEP then, WAIT now" in error["ErrorMessage"]
    assert "name 'fetch' then, 'pause' now" in error["ErrorMessage"]


def test_retry_exhaustion_raises_step_error_with_original_type(executor, caplog):
    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        def always(_):
            raise KeyError("missing")

        try:
            ctx.step(always, name="always", config=StepConfig(retry_strategy=fast_retry(2)))
        except StepError as error:
            return {
                "type": error.error_type,
                "message": error.message,
                "cause": type(error.__cause__).__name__,
            }
        return "unreachable"

    service = FakeService()
    with caplog.at_level(logging.INFO, logger="durable_mp.engine"):
        output = drive(handler, service)
    assert json.loads(output["Result"]) == {
        "type": "KeyError",
        "message": "'missing'",
        "cause": "DurableOperationError",
    }
    fails = [u for call in service.calls for u in call if u.action is OperationAction.FAIL]
    assert len(fails) == 1 and fails[0].error.type == "KeyError"
    # the wire form is the official SDK's (no StackTrace); the traceback goes to the log
    assert fails[0].error.stack_trace is None
    logged = [r.getMessage() for r in caplog.records if "attempt 2 failed" in r.getMessage()]
    assert logged and "Traceback" in logged[0] and "KeyError: 'missing'" in logged[0]


def test_unhandled_step_error_fails_execution(executor):
    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        ctx.step(lambda _: 1 / 0, name="div", config=StepConfig(retry_strategy=RetryPresets.none()))

    output = drive(handler, FakeService())
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "durable_mp.exceptions.StepError"
    assert output["Error"]["ErrorMessage"] == "division by zero"


def test_at_most_once_interrupted_goes_to_retry_strategy(executor):
    seen: list[tuple[str, int]] = []

    def strategy(error, attempts):
        seen.append((type(error).__name__, attempts))
        return RetryPresets.none()(error, attempts)

    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        return ctx.step(
            lambda _: "ran",
            name="once",
            config=StepConfig(
                retry_strategy=strategy, step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY
            ),
        )

    service = FakeService()
    # Simulate an invocation that checkpointed START and then died.
    handler_calls = service.invocation()
    service.checkpoint(
        handler_calls.durable_execution_arn,
        service.token,
        [_start_update(handler_calls)],
        None,
    )
    output = handler(service.invocation(), CTX)
    assert output["Status"] == "FAILED"
    assert seen == [("StepInterruptedError", 1)]


def _start_update(invocation):
    from durable_mp.engine.ids import operation_id_for
    from durable_mp.lambda_service import OperationUpdate

    return OperationUpdate(
        operation_id_for(None, 1),
        OperationType.STEP,
        OperationAction.START,
        name="once",
        sub_type="Step",
    )


def test_at_least_once_started_step_runs_again_without_new_start(executor):
    runs: list[int] = []

    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        return ctx.step(lambda s: runs.append(s.attempt) or "again", name="once")

    service = FakeService()
    inv = service.invocation()
    service.checkpoint(inv.durable_execution_arn, service.token, [_start_update(inv)], None)
    before = len(service.calls)
    output = handler(service.invocation(), CTX)
    assert output == {"Status": "SUCCEEDED", "Result": '"again"'}
    assert runs == [1]
    assert [u.action for u in service.calls[before]] == [OperationAction.SUCCEED]


def test_durable_step_decorator_names_the_step(executor):
    @durable_step
    def greet(step_context, who):
        return f"Hello, {who}!"

    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        return ctx.step(greet(event))

    service = FakeService(json.dumps("World"))
    assert drive(handler, service)["Result"] == '"Hello, World!"'
    assert service.calls[0][0].name == "greet"


def test_large_child_result_uses_replay_children(executor):
    runs: list[int] = []
    big = "x" * (300 * 1024)

    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        value = ctx.run_in_child_context(
            lambda c: runs.append(1) or c.step(lambda _: big, name="inner"),
            name="big",
            config=ChildConfig(summary_generator=lambda r: f"len={len(r)}"),
        )
        ctx.wait(Duration.from_seconds(1))
        return len(value)

    service = FakeService()
    assert drive(handler, service) == {"Status": "SUCCEEDED", "Result": str(len(big))}
    succeed = next(
        u
        for call in service.calls
        for u in call
        if u.operation_type is OperationType.CONTEXT and u.action is OperationAction.SUCCEED
    )
    assert succeed.payload == f"len={len(big)}"
    assert succeed.context_options.replay_children is True
    assert runs == [1, 1]  # re-run on replay; its step replayed from the checkpoint


def test_result_over_6mb_is_checkpointed(executor):
    big = "y" * (7 * 1024 * 1024)

    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        return big

    service = FakeService()
    output = drive(handler, service)
    assert output == {"Status": "SUCCEEDED", "Result": ""}
    assert service.completed.action is OperationAction.SUCCEED
    assert json.loads(service.completed.payload) == big


def test_bad_event_is_a_clear_error():
    @durable_execution
    def handler(event, ctx):
        return 1

    with pytest.raises(InvalidEventError, match="DurableExecutionArn"):
        handler({"hello": "world"}, CTX)


def test_replay_aware_logger_logs_once(executor, caplog):
    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        ctx.logger.info("before wait")
        ctx.step(lambda _: 1, name="s")
        ctx.wait(Duration.from_seconds(1))
        ctx.logger.info("after wait")
        return 1

    with caplog.at_level(logging.INFO):
        drive(handler, FakeService())
    messages = [r.getMessage() for r in caplog.records if r.name == "root"]
    assert messages == ["before wait", "after wait"]
    record = next(r for r in caplog.records if r.getMessage() == "after wait")
    assert record.executionArn.endswith("exec-1")


def test_step_logger_carries_operation_fields(executor, caplog):
    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        return ctx.step(lambda s: s.logger.info("inside %s", "step") or 1, name="logged")

    with caplog.at_level(logging.INFO):
        drive(handler, FakeService())
    record = next(r for r in caplog.records if r.getMessage() == "inside step")
    assert record.operationName == "logged"
    assert record.attempt == 1
    assert len(record.operationId) == 64
