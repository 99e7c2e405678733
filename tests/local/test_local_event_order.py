"""An invocation's end is recorded before what falls due after it answered.

The race (seen as a conformance flake on a loaded machine): a handler suspends on a
1-second wait, its runtime takes longer than that to hand the answer back, and the
runner's idle loop fired the wait first -- WaitSucceeded before the InvocationCompleted
of the invocation that started it. Fast-forwarded chained invokes raced the same way: the
child finished before its caller's invocation was recorded. A runtime that sleeps after
the handler returned reproduces both every time.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from durable_mp import Duration, durable_execution
from durable_mp.local import LocalRunner, LocalService


def _slow_runtime(handler: Any, seconds: float = 1.5) -> Any:
    """The handler, in a runtime that takes ``seconds`` to answer after it returned."""

    def runtime(event: Any, context: Any) -> Any:
        output = handler(event, context)
        time.sleep(seconds)
        return output

    return runtime


def _types(service: LocalService, arn: str) -> list[str]:
    return [event["EventType"] for event in service.get_history(arn)]


@pytest.mark.parametrize("fast_forward", [True, False])
def test_a_wait_that_falls_due_while_the_runtime_answers_fires_after_it(fast_forward: bool) -> None:
    @durable_execution(step_executor="inline")
    def handler(event: Any, ctx: Any) -> str:
        ctx.step(lambda _: 1, name="first")
        ctx.wait(Duration.from_seconds(1), name="pause")
        return "done"

    service = LocalService(invocation_retry_delay=0)
    runner = LocalRunner(service, {"fn": _slow_runtime(handler)}, fast_forward=fast_forward)
    record = runner.run("fn", {})
    assert record.status == "SUCCEEDED"
    assert _types(service, record.arn) == [
        "ExecutionStarted",
        "StepStarted",
        "StepSucceeded",
        "WaitStarted",
        "InvocationCompleted",
        "WaitSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]


def test_a_fast_forwarded_child_ends_after_its_callers_invocation() -> None:
    @durable_execution(step_executor="inline")
    def child(event: Any, ctx: Any) -> int:
        return ctx.step(lambda _: event["n"] * 2, name="double")

    @durable_execution(step_executor="inline")
    def parent(event: Any, ctx: Any) -> int:
        return ctx.invoke("child", {"n": 21}, name="call")

    service = LocalService(invocation_retry_delay=0)
    runner = LocalRunner(
        service, {"parent": _slow_runtime(parent), "child": child}, fast_forward=True
    )
    record = runner.run("parent", {})
    assert record.status == "SUCCEEDED" and record.result == "42"
    types = _types(service, record.arn)
    assert types.index("InvocationCompleted") < types.index("ChainedInvokeSucceeded"), types


def test_a_fast_forwarded_plain_call_ends_after_its_callers_invocation() -> None:
    @durable_execution(step_executor="inline")
    def parent(event: Any, ctx: Any) -> Any:
        return ctx.invoke("echo", {"n": 1}, name="call")

    service = LocalService(invocation_retry_delay=0)
    runner = LocalRunner(
        service,
        {"parent": _slow_runtime(parent)},
        plain_functions={"echo": lambda event, context: event},
        fast_forward=True,
    )
    record = runner.run("parent", {})
    assert record.status == "SUCCEEDED"
    types = _types(service, record.arn)
    assert types.index("InvocationCompleted") < types.index("ChainedInvokeSucceeded"), types
