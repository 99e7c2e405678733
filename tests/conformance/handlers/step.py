"""Step suite (1-x): one step at a time, its retries, semantics, serdes and logger.

Each factory builds what its YAML's ``handler`` prose describes, against the ``sdk``
namespace only, so the same source runs on durable-mp and on the official SDK. Retry
delays are the YAMLs' (1 s unless a requirement names others), with no jitter, so
``NextAttemptDelaySeconds`` is exact. The two requirements whose step crashes the Lambda
runtime run that step inline (``step_executor="inline"``): in a worker process the crash
would be a failed step, not a dead runtime.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from tests.conformance.sdk import Requirement

if TYPE_CHECKING:
    from types import SimpleNamespace


class TransientError(Exception):
    """The error 1-15 retries and 1-16 refuses to retry."""


def build(sdk: SimpleNamespace) -> dict[str, Requirement]:
    """The handlers of the step suite, by requirement id."""
    return {
        "1-1": greet_once(sdk, name=None),
        "1-2": greet_once(sdk, name="custom_step_name"),
        "1-3": dependent_steps(sdk),
        "1-5": returns_none(sdk),
        "1-6": uppercase_serdes(sdk),
        "1-7": step_logger(sdk),
        "1-8": step_then_wait(sdk, result="computed", seconds=2),
        "1-9": step_then_wait(sdk, result="cached_value", seconds=1),
        "1-10": failed_step_then_wait(sdk),
        "1-11": fails_then_succeeds(sdk),
        "1-12": always_fails(sdk, retry(sdk, attempts=4)),
        "1-14": fails_twice_with_backoff(sdk),
        "1-15": retry_only_transient(sdk, retry_transient=True),
        "1-16": retry_only_transient(sdk, retry_transient=False),
        "1-17": at_most_once_crash(sdk, retried=False),
        "1-18": at_most_once_crash(sdk, retried=True),
        "1-19": always_fails(sdk, no_retry(sdk)),
        "1-20": caught_then_fallback(sdk),
    }


def retry(sdk: SimpleNamespace, attempts: int, delay: int = 1, backoff: float = 1.0) -> Any:
    """A StepConfig retrying ``attempts`` times in all, ``delay`` s times ``backoff``^n."""
    return sdk.StepConfig(
        retry_strategy=sdk.create_retry_strategy(
            sdk.RetryStrategyConfig(
                max_attempts=attempts,
                initial_delay=sdk.Duration.from_seconds(delay),
                backoff_rate=backoff,
                jitter_strategy=sdk.JitterStrategy.NONE,
            )
        )
    )


def no_retry(sdk: SimpleNamespace) -> Any:
    return sdk.StepConfig(retry_strategy=sdk.RetryPresets.none())


def greet_once(sdk: SimpleNamespace, name: str | None) -> Requirement:
    """1-1, 1-2: a step greets the input (named when ``name`` is given)."""

    @sdk.durable_step
    def greet(step_ctx: Any, who: str) -> str:
        return f"Hello, {who}!"

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(greet(event), name=name)

    return Requirement(sdk.durable_execution(handler))


def dependent_steps(sdk: SimpleNamespace) -> Requirement:
    """1-3: the second step uses the first step's result."""

    def handler(event: Any, ctx: Any) -> Any:
        first = ctx.step(lambda _: "first")
        return ctx.step(lambda _: f"{first}_second")

    return Requirement(sdk.durable_execution(handler))


def returns_none(sdk: SimpleNamespace) -> Requirement:
    """1-5: a step that returns None."""

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(lambda _: None)

    return Requirement(sdk.durable_execution(handler))


def uppercase_serdes(sdk: SimpleNamespace) -> Requirement:
    """1-6: the step's serdes upper-cases every string it serializes."""

    class UppercaseSerDes(sdk.SerDes):  # type: ignore[misc,name-defined]
        def serialize(self, value: Any, serdes_context: Any) -> str:
            return json.dumps(upper(value))

        def deserialize(self, data: str, serdes_context: Any) -> Any:
            return json.loads(data)

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(lambda _: event, config=sdk.StepConfig(serdes=UppercaseSerDes()))

    return Requirement(sdk.durable_execution(handler))


def upper(value: Any) -> Any:
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, list):
        return [upper(item) for item in value]
    if isinstance(value, dict):
        return {key: upper(item) for key, item in value.items()}
    return value


def step_logger(sdk: SimpleNamespace) -> Requirement:
    """1-7: the step logs its start and its result through ``step_context.logger``."""

    @sdk.durable_step
    def greet(step_ctx: Any, who: str) -> str:
        step_ctx.logger.info(f"Greeting step started for: {who}")
        greeting = f"Hello, {who}!"
        step_ctx.logger.info(f"Greeting step completed with: {greeting}")
        return greeting

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(greet(event))

    return Requirement(sdk.durable_execution(handler))


def step_then_wait(sdk: SimpleNamespace, result: str, seconds: int) -> Requirement:
    """1-8, 1-9: a logging step, then a wait; the replay returns the checkpointed result."""

    def work(step_ctx: Any) -> str:
        step_ctx.logger.info("step executed")
        return result

    def handler(event: Any, ctx: Any) -> Any:
        value = ctx.step(work)
        ctx.wait(sdk.Duration.from_seconds(seconds))
        return value

    return Requirement(sdk.durable_execution(handler))


def failed_step_then_wait(sdk: SimpleNamespace) -> Requirement:
    """1-10: a step failing for good is caught, then a wait; the replay re-raises it."""

    def fail(step_ctx: Any) -> None:
        step_ctx.logger.info("step executed")
        raise RuntimeError("permanent failure")

    def handler(event: Any, ctx: Any) -> Any:
        try:
            ctx.step(fail, config=no_retry(sdk))
        except sdk.StepError:
            pass
        ctx.wait(sdk.Duration.from_seconds(1))

    return Requirement(sdk.durable_execution(handler))


def fails_then_succeeds(sdk: SimpleNamespace) -> Requirement:
    """1-11: the first attempt fails, the retry 1 s later succeeds."""

    def unreliable(step_ctx: Any) -> str:
        if step_ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return "Operation succeeded"

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(unreliable, config=retry(sdk, attempts=3))

    return Requirement(sdk.durable_execution(handler))


def always_fails(sdk: SimpleNamespace, config: Any) -> Requirement:
    """1-12 (4 attempts 1 s apart), 1-19 (no retry): the step always raises."""

    def fail(step_ctx: Any) -> None:
        raise RuntimeError(f"attempt {step_ctx.attempt} failed")

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(fail, config=config)

    return Requirement(sdk.durable_execution(handler))


def fails_twice_with_backoff(sdk: SimpleNamespace) -> Requirement:
    """1-14: fails twice (retries after 2 s, then 6 s: backoff 3), succeeds the third time.

    The attempt number comes from the step context, which the service keeps across
    invocations (the YAML's handler keeps it in DynamoDB).
    """

    def flaky(step_ctx: Any) -> str:
        if step_ctx.attempt < 3:
            raise RuntimeError(f"attempt {step_ctx.attempt} fails")
        return f"succeeded on attempt {step_ctx.attempt}"

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(flaky, config=retry(sdk, attempts=5, delay=2, backoff=3))

    return Requirement(sdk.durable_execution(handler))


def retry_only_transient(sdk: SimpleNamespace, retry_transient: bool) -> Requirement:
    """1-15 (TransientError retried after 1 s), 1-16 (TransientError never retried)."""

    def strategy(error: Exception, attempts: int) -> Any:
        if isinstance(error, TransientError) == retry_transient and attempts < 3:
            return sdk.RetryDecision.retry(sdk.Duration.from_seconds(1))
        return sdk.RetryDecision.no_retry()

    def flaky(step_ctx: Any) -> str:
        if step_ctx.attempt == 1:
            raise TransientError("transient failure")
        return "recovered"

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(flaky, config=sdk.StepConfig(retry_strategy=strategy))

    return Requirement(sdk.durable_execution(handler))


def at_most_once_crash(sdk: SimpleNamespace, retried: bool) -> Requirement:
    """1-17 (no retry), 1-18 (retried): an at-most-once step logs the input, then its
    first attempt kills the Lambda runtime; the replay finds the step interrupted."""
    config = sdk.StepConfig(
        step_semantics=sdk.StepSemantics.AT_MOST_ONCE_PER_RETRY,
        retry_strategy=(retry(sdk, attempts=2) if retried else no_retry(sdk)).retry_strategy,
    )

    def crash_first(step_ctx: Any, value: str) -> str:
        step_ctx.logger.info(f"executing with {value}")
        if step_ctx.attempt == 1:
            os._exit(1)
        return "succeeded on second attempt"

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(
            lambda step_ctx: crash_first(step_ctx, event),
            name="at_most_once_flaky_step",
            config=config,
        )

    return Requirement(sdk.durable_execution(handler), step_executor="inline")


def caught_then_fallback(sdk: SimpleNamespace) -> Requirement:
    """1-20: a failing step is caught; a second step then returns the fallback value."""

    def fail(step_ctx: Any) -> None:
        raise RuntimeError("step failed")

    def handler(event: Any, ctx: Any) -> Any:
        try:
            value = ctx.step(fail, config=no_retry(sdk))
        except sdk.StepError:
            value = "fallback_result"
        return ctx.step(lambda _: value)

    return Requirement(sdk.durable_execution(handler))
