"""Conformance requirements (the real service's observable behaviour) on the local service.

Handlers written with AWS's official SDK run on LocalRunner; the recorded history is
matched against ``ExpectedExecutionHistory`` of the requirement files with their rules:
events matched by EventId, ``${NAME}`` binds on first sight, ``${/re/}`` is a regex,
``'*'`` and ``{}`` mean "don't care", extra actual events are ignored.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    Duration,
    JitterStrategy,
    MapConfig,
    ParallelConfig,
    StepConfig,
    StepSemantics,
)
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

from durable_mp.local import LocalRunner, LocalService

if TYPE_CHECKING:
    from collections.abc import Callable

REQUIREMENTS = Path("/work/shared/conformance/requirements")
_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_REGEX = re.compile(r"^\$\{/(.*)/\}$")


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


HANDLERS: dict[str, Callable[[], Callable[[Any, DurableContext], Any]]] = {
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


def substitute(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


def match(expected: Any, actual: Any, bindings: dict[str, Any], where: str) -> None:
    if expected == "*" or expected == {}:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: missing {key} in {actual!r}"
            match(value, actual[key], bindings, f"{where}.{key}")
        return
    if isinstance(expected, str):
        if regex := _REGEX.match(expected):
            assert re.fullmatch(regex.group(1), str(actual)), f"{where}: {actual!r} !~ {expected}"
            return
        if whole := re.fullmatch(r"\$\{([A-Za-z0-9_]+)\}", expected):
            bound = bindings.setdefault(whole.group(1), actual)
            assert bound == actual, f"{where}: {actual!r} != bound {bound!r}"
            return
    assert expected == actual, f"{where}: expected {expected!r}, got {actual!r}"


@pytest.mark.skipif(not REQUIREMENTS.is_dir(), reason="conformance requirements not available")
@pytest.mark.parametrize("requirement", sorted(HANDLERS))
def test_requirement(service: LocalService, requirement: str) -> None:
    spec = yaml.safe_load((REQUIREMENTS / f"{requirement}.yaml").read_text())
    variables = {
        name: secrets.token_hex(8)[: int(size)]
        for name, size in (
            (name, re.fullmatch(r"\$\{GEN_STR:(\d+)\}", text).group(1))  # type: ignore[union-attr]
            for name, text in (spec.get("Variables") or {}).items()
        )
    }
    spec = substitute(spec, variables)
    runner = LocalRunner(
        service, {"fn": official_handler(durable_execution(HANDLERS[requirement]()))}, fast_forward=True
    )
    arn = runner.start("fn", json.dumps(spec["Input"]) if spec.get("Input") is not None else None)
    try:
        record = runner.drive(arn)
    except Crash:
        record = runner.drive(arn)  # a new process takes over after the crash

    expected_result = spec["ExpectedResult"]
    assert record.status == expected_result["ExecutionStatus"], record.error
    if "Result" in expected_result and record.status == "SUCCEEDED":
        assert json.loads(record.result or "null") == expected_result["Result"]
    history = {event["EventId"]: event for event in service.get_history(arn)}
    bindings: dict[str, Any] = {}
    for expected in spec["ExpectedExecutionHistory"]:
        event_id = expected["EventId"]
        assert event_id in history, f"no event {event_id}: {[e['EventType'] for e in history.values()]}"
        match(expected, history[event_id], bindings, f"event {event_id}")
