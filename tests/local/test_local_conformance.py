"""Conformance requirements (the real service's observable behaviour) on the local service.

Handlers written with AWS's official SDK run on LocalRunner; the recorded history is
matched against ``ExpectedExecutionHistory`` of the requirement files by the conformance
harness's matcher (``tests.conformance``: variables, matching rules, callback actions,
here with delays scaled down), and chained invokes reach the targets registered beside
the handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    Duration,
    InvokeConfig,
    JitterStrategy,
    MapConfig,
    ParallelConfig,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.exceptions import CallbackError, InvokeError
from aws_durable_execution_sdk_python.retries import (
    RetryPresets,
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)
from local_official_sdk import official_handler
from tests.conformance.callbacks import CallbackDriver
from tests.conformance.embedded import callback_sender
from tests.conformance.matching import first_history_error, first_result_error
from tests.conformance.spec import load

from durable_mp.local import LocalRunner, LocalService, history_to_json

if TYPE_CHECKING:
    from collections.abc import Callable



class Crash(BaseException):
    """Stands in for the Lambda runtime dying mid-invocation: nothing catches it."""


def retry(attempts: int, delay: int = 1) -> StepConfig:
    return StepConfig(
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=attempts,
                initial_delay=Duration.from_seconds(delay),
                backoff_rate=1,
                jitter_strategy=JitterStrategy.NONE,
            )
        )
    )


NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


def fail(_: StepContext) -> None:
    raise RuntimeError("always fails")


def flaky_once() -> Callable[[StepContext], str]:
    def body(step: StepContext) -> str:
        if step.attempt < 2:
            raise RuntimeError("first attempt fails")
        return "Operation succeeded"

    return body


def at_most_once_crash() -> Callable[[Any, DurableContext], Any]:
    crashed: list[bool] = []

    def body(_: StepContext) -> str:
        if not crashed:
            crashed.append(True)
            raise Crash
        return "never"

    config = StepConfig(retry_strategy=RetryPresets.none(), step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)
    return lambda event, ctx: ctx.step(body, name="at_most_once_flaky_step", config=config)


def two_steps(event: Any, ctx: DurableContext) -> str:
    first = ctx.step(lambda _: "first")
    return ctx.step(lambda _: f"{first}_second")


def poll_counter(event: int, ctx: DurableContext) -> int:
    def strategy(state: int, attempts: int) -> WaitForConditionDecision:
        if state >= event:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    return ctx.wait_for_condition(
        lambda state, _: state + 1, WaitForConditionConfig(strategy, initial_state=0)
    )


def caught_failure(event: Any, ctx: DurableContext) -> str:
    try:
        ctx.step(fail, config=NO_RETRY)
    except Exception:
        pass
    ctx.step(lambda _: "recovered")
    return "fallback_result"


def caught_invoke(event: Any, ctx: DurableContext) -> str:
    try:
        ctx.invoke("failing", None)
    except InvokeError:
        return "fallback"
    return "unexpected"


def invoke_then_wait(target: str) -> Callable[[Any, DurableContext], Any]:
    def handler(event: Any, ctx: DurableContext) -> Any:
        try:
            result = ctx.invoke(target, event)
        except InvokeError:
            result = "caught"
        ctx.wait(Duration.from_seconds(1))
        return result

    return handler


def callback_then(then: Callable[[DurableContext], Any]) -> Callable[[Any, DurableContext], Any]:
    def handler(event: Any, ctx: DurableContext) -> Any:
        callback = ctx.create_callback(name=event)
        try:
            result = callback.result()
        except CallbackError as error:
            result = f"caught: {error}"
        then(ctx)
        return result

    return handler


def recovered(event: Any, ctx: DurableContext) -> str:
    try:
        ctx.wait_for_callback(lambda callback_id, _: None, name=event)
    except CallbackError:
        return "recovered"
    return "unexpected"


def timeout_handled(event: Any, ctx: DurableContext) -> str:
    config = WaitForCallbackConfig(timeout=Duration.from_seconds(3))
    try:
        ctx.wait_for_callback(lambda callback_id, _: None, name=event, config=config)
    except CallbackError:
        return "timed-out-handled"
    return "unexpected"


def two_callbacks_in_order(event: list[str], ctx: DurableContext) -> list[Any]:
    first, second = (ctx.create_callback(name=name) for name in event)
    return [first.result(), second.result()]


SUBMIT: Callable[[str, Any], None] = lambda callback_id, _: None  # noqa: E731

HANDLERS: dict[str, Callable[[], Callable[[Any, DurableContext], Any]]] = {
    "callback/4-1": lambda: lambda event, ctx: ctx.create_callback(name=event).result(),
    "callback/4-2": lambda: lambda event, ctx: ctx.create_callback(name="approval").result(),
    "callback/4-6": lambda: lambda event, ctx: ctx.create_callback(name=event).result(),
    "callback/4-7": lambda: lambda event, ctx: (
        callback := ctx.create_callback(name=event),
        ctx.step(lambda _: "work"),
        callback.result(),
    )[-1],
    "callback/4-12": lambda: callback_then(lambda ctx: ctx.wait(Duration.from_seconds(2))),
    "callback/4-13": lambda: callback_then(lambda ctx: ctx.wait(Duration.from_seconds(2))),
    "callback/4-17": lambda: lambda event, ctx: [
        ctx.create_callback(name=name).result() for name in event
    ],
    "callback/4-18": lambda: two_callbacks_in_order,
    "wait_for_callback/7-1": lambda: lambda event, ctx: ctx.wait_for_callback(SUBMIT, name=event),
    "wait_for_callback/7-2": lambda: lambda event, ctx: ctx.wait_for_callback(SUBMIT, name="approval"),
    "wait_for_callback/7-3": lambda: lambda event, ctx: ctx.wait_for_callback(SUBMIT),
    "wait_for_callback/7-4": lambda: lambda event, ctx: ctx.wait_for_callback(SUBMIT, name=event),
    "wait_for_callback/7-6": lambda: recovered,
    "wait_for_callback/7-8": lambda: lambda event, ctx: ctx.run_in_child_context(
        lambda child: child.wait_for_callback(SUBMIT, name=event), name="wrapper"
    ),
    "wait_for_callback/7-9": lambda: lambda event, ctx: (
        ctx.wait_for_callback(SUBMIT, name="first"),
        ctx.wait_for_callback(SUBMIT, name="second"),
    )[-1],
    "wait_for_callback/7-14": lambda: timeout_handled,  # 3 s in real time
    "wait_for_callback/7-15": lambda: lambda event, ctx: ctx.wait_for_callback(SUBMIT, name=event),
    "invoke/5-1": lambda: lambda event, ctx: ctx.invoke("echo", event),
    "invoke/5-2": lambda: lambda event, ctx: ctx.invoke("echo", event["payload"], name=event["name"]),
    "invoke/5-3": lambda: lambda event, ctx: ctx.invoke("echo", event),
    "invoke/5-4": lambda: lambda event, ctx: ctx.invoke("echo", None),
    "invoke/5-6": lambda: caught_invoke,
    "invoke/5-8": lambda: lambda event, ctx: ctx.invoke(
        "echo", event["payload"], config=InvokeConfig(tenant_id=event["tenantId"])
    ),
    "invoke/5-9": lambda: invoke_then_wait("echo"),
    "invoke/5-10": lambda: invoke_then_wait("failing"),
    "invoke/5-11": lambda: lambda event, ctx: ctx.invoke("echo", ctx.step(lambda _: "from step")),
    "invoke/5-12": lambda: lambda event, ctx: ctx.step(
        lambda _, result=ctx.invoke("echo", "to step"): result
    ),
    "invoke/5-14": lambda: lambda event, ctx: [ctx.invoke("echo", 1), ctx.invoke("echo", 2)],
    "step/1-1": lambda: lambda event, ctx: ctx.step(lambda _: f"Hello, {event}!"),
    "step/1-3": lambda: two_steps,
    "step/1-11": lambda: lambda event, ctx: ctx.step(flaky_once(), config=retry(3)),
    "step/1-12": lambda: lambda event, ctx: ctx.step(fail, config=retry(4)),
    "step/1-17": at_most_once_crash,
    "step/1-19": lambda: lambda event, ctx: ctx.step(fail, config=NO_RETRY),
    "step/1-20": lambda: caught_failure,
    "wait_for_condition/6-1": lambda: poll_counter,
    "parallel/8-1": lambda: lambda event, ctx: ctx.parallel(
        [
            lambda branch: branch.step(lambda _: "task-1"),
            lambda branch: branch.step(lambda _: "task-2"),
        ],
        name="parallel",
        config=ParallelConfig(max_concurrency=1),
    ).get_results(),
    "map/9-1": lambda: lambda event, ctx: ctx.map(
        event,
        lambda child, item, index, items: child.step(lambda _: f"Hello, {item}!"),
        name="map",
        config=MapConfig(max_concurrency=1),
    ).get_results(),
    "wait/2-1": lambda: lambda event, ctx: ctx.wait(Duration.from_seconds(2)),
    "wait/2-3": lambda: lambda event, ctx: (
        ctx.wait(Duration.from_seconds(2), name="wait-1"),
        ctx.wait(Duration.from_seconds(2), name="wait-2"),
        {"completedWaits": 2},
    )[-1],
    "child/3-1": lambda: lambda event, ctx: ctx.run_in_child_context(
        lambda child: child.step(lambda _: event), name="child"
    ),
    "child/3-4": lambda: lambda event, ctx: ctx.run_in_child_context(
        lambda child: child.step(fail, config=NO_RETRY), name="child"
    ),
    "child/3-8": lambda: lambda event, ctx: ctx.run_in_child_context(
        lambda child: child.step(fail, config=retry(2)), name="child"
    ),
    "child/3-13": lambda: lambda event, ctx: (
        ctx.run_in_child_context(
            lambda child: (child.wait(Duration.from_seconds(1)), event)[1], name="child"
        ),
        ctx.step(lambda _: event),
    )[-1],
    "child/3-15": lambda: lambda event, ctx: ctx.run_in_child_context(
        lambda child: (_ for _ in ()).throw(RuntimeError("thrown in the child body")),
        name="child",
    ),
}


def echo(event: Any, ctx: DurableContext) -> Any:
    return event


def failing(event: Any, ctx: DurableContext) -> Any:
    raise RuntimeError("the target failed")


def functions(handler: Callable[[Any, DurableContext], Any]) -> dict[str, Any]:
    """The handler under test, and the targets its chained invokes reach."""
    return {
        name: official_handler(durable_execution(function))
        for name, function in (("fn", handler), ("echo", echo), ("failing", failing))
    }


@pytest.mark.parametrize("requirement", sorted(HANDLERS))
def test_requirement(service: LocalService, requirement: str) -> None:
    spec = load(requirement)
    runner = LocalRunner(service, functions(HANDLERS[requirement]()), fast_forward=True)
    arn = runner.start("fn", spec.input_json)

    def history() -> list[dict[str, Any]]:
        return history_to_json(service.get_history(arn))

    sender = callback_sender(service)
    with CallbackDriver(spec.callback_actions, history, sender, delay_scale=0.25) as driver:
        try:
            record = runner.drive(arn)
        except Crash:
            record = runner.drive(arn)  # a new process takes over after the crash
    assert not driver.errors, driver.errors
    error = first_result_error(spec.expected_result, record.status, record.result)
    assert error is None, f"{requirement}: {error} ({record.error})"
    error = first_history_error(spec.expected_history, history())
    assert error is None, f"{requirement}: {error}"
