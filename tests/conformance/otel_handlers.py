"""Handlers of the OpenTelemetry requirements, one per ``Input.scenario``, for one SDK and
one plugin factory (the view under test is the factory's).

The behaviour is the requirements' (and the reference Python handlers' of the
conformance repository before they moved out): each handler checks it got its scenario,
then does exactly what its YAML's history shows. Chained-invoke targets are registered
under :data:`TARGET_FUNCTION`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from tests.conformance.sdk import Requirement

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import SimpleNamespace

TARGET_FUNCTION = "otel-invoke-target"
INTERRUPTED_WAIT_TIMEOUT_SECONDS = 15  # the deployed requirement's ExecutionTimeout


class IntentionalFailure(RuntimeError):
    """What the failure scenarios raise."""


def _expect(event: Any, scenario: str) -> None:
    got = event.get("scenario") if isinstance(event, dict) else None
    if got != scenario:
        raise ValueError(f"expected scenario {scenario!r}, received {got!r}")


def _delay(event: Any) -> int:
    raw = event.get("delay_seconds")
    delay = int(raw) if not isinstance(raw, bool) else 0
    if not 1 <= delay <= 86_400:
        raise ValueError("delay_seconds must be a whole number from 1 to 86400")
    return delay


# Step bodies live at module level: they are pickled by reference to worker processes.


def succeed(step: Any) -> str:
    return "success"


def resumed(step: Any) -> str:
    return "resumed"


def fail_first_attempt(step: Any) -> str:
    if step.attempt == 1:
        raise IntentionalFailure("Intentional first-attempt failure")
    return "retried"


def fail(step: Any) -> None:
    raise IntentionalFailure("Intentional failure")


def recovered(step: Any) -> str:
    return "recovered"


def label(value: str) -> Callable[[Any], str]:
    return lambda step: value


def double(item: int) -> Callable[[Any], int]:
    return lambda step: item * 2


def increment(state: int, check: Any) -> int:
    return state + 1


def fail_check(state: int, check: Any) -> int:
    raise IntentionalFailure("Intentional condition check failure")


def submit(callback_id: str, context: Any) -> None:
    return None


def build(sdk: SimpleNamespace, factory: Any) -> dict[str, Requirement]:
    """Every scenario's handler, each registering ``factory``."""
    durable = sdk.durable_execution(plugins=[factory])

    def retries(attempts: int, delay: int = 1) -> Any:
        return sdk.StepConfig(
            retry_strategy=sdk.create_retry_strategy(
                sdk.RetryStrategyConfig(
                    max_attempts=attempts,
                    initial_delay=sdk.Duration.from_seconds(delay),
                    backoff_rate=1.0,
                    jitter_strategy=sdk.JitterStrategy.NONE,
                    retryable_error_types=[IntentionalFailure],
                )
            )
        )

    def every_second(done: Callable[[int], bool]) -> Callable[[int, int], Any]:
        def strategy(state: int, attempt: int) -> Any:
            if done(state):
                return sdk.WaitForConditionDecision.stop_polling()
            return sdk.WaitForConditionDecision.continue_waiting(sdk.Duration.from_seconds(1))

        return strategy

    @durable
    def success(event: Any, ctx: Any) -> Any:
        _expect(event, "success")
        return ctx.step(succeed, name="otel-success")

    @durable
    def wait_resume(event: Any, ctx: Any) -> Any:
        _expect(event, "wait-resume")
        ctx.wait(sdk.Duration.from_seconds(1), name="otel-wait")
        return ctx.step(resumed, name="otel-after-resume")

    @durable
    def retry(event: Any, ctx: Any) -> Any:
        _expect(event, "retry")
        return ctx.step(fail_first_attempt, name="otel-retry", config=retries(2))

    @durable
    def terminal_failure(event: Any, ctx: Any) -> Any:
        _expect(event, "terminal-failure")
        ctx.step(fail, name="otel-terminal-failure", config=retries(1))

    @durable
    def child_context(event: Any, ctx: Any) -> Any:
        _expect(event, "child-context")
        return ctx.run_in_child_context(
            lambda child: child.step(label("child-complete"), name="otel-child-step"),
            name="otel-child-context",
        )

    @durable
    def parallel_hierarchy(event: Any, ctx: Any) -> Any:
        _expect(event, "parallel-hierarchy")
        branches = [
            sdk.ParallelBranch(
                lambda c, tag=tag: c.step(label(tag), name=f"otel-parallel-step-{tag}"),
                name=f"otel-parallel-branch-{tag}",
            )
            for tag in ("a", "b")
        ]
        return ctx.parallel(
            branches, name="otel-parallel", config=sdk.ParallelConfig(max_concurrency=1)
        ).get_results()

    def map_config(prefix: str) -> Any:
        return sdk.MapConfig(
            item_namer=lambda item, index: f"{prefix}-{index}", max_concurrency=1
        )

    @durable
    def map_hierarchy(event: Any, ctx: Any) -> Any:
        _expect(event, "map-hierarchy")
        return ctx.map(
            [1, 2],
            lambda c, item, index, items: c.step(double(item), name=f"otel-map-step-{index}"),
            name="otel-map",
            config=map_config("otel-map-iteration"),
        ).get_results()

    @durable
    def handled_failure(event: Any, ctx: Any) -> Any:
        _expect(event, "handled-failure")
        with contextlib.suppress(sdk.StepError):
            ctx.step(fail, name="otel-handled-failure", config=retries(1))
        return ctx.step(recovered, name="otel-recovery-step")

    @durable
    def wait_for_condition(event: Any, ctx: Any) -> Any:
        _expect(event, "wait-for-condition")
        config = sdk.WaitForConditionConfig(
            wait_strategy=every_second(lambda state: state >= 2), initial_state=0
        )
        return ctx.wait_for_condition(increment, config, name="otel-condition")

    @durable
    def wait_for_callback(event: Any, ctx: Any) -> Any:
        _expect(event, "wait-for-callback")
        return ctx.wait_for_callback(submit, name="otel-callback")

    @durable
    def chained_invoke(event: Any, ctx: Any) -> Any:
        _expect(event, "chained-invoke")
        return ctx.invoke(TARGET_FUNCTION, event, name="otel-invoke")

    @durable
    def echo_target(event: Any, ctx: Any) -> Any:
        return event

    @durable
    def child_context_failure(event: Any, ctx: Any) -> Any:
        _expect(event, "child-context-failure")

        def fail_child(child: Any) -> None:
            raise IntentionalFailure("Intentional child-context failure")

        ctx.run_in_child_context(fail_child, name="otel-failed-child-context")

    @durable
    def parallel_failure(event: Any, ctx: Any) -> Any:
        _expect(event, "parallel-failure")

        def fail_branch(c: Any) -> None:
            raise IntentionalFailure("Intentional parallel branch failure")

        ctx.parallel(
            [sdk.ParallelBranch(fail_branch, name="otel-failed-parallel-branch")],
            name="otel-failed-parallel",
            config=sdk.ParallelConfig(max_concurrency=1),
        ).throw_if_error()

    @durable
    def map_failure(event: Any, ctx: Any) -> Any:
        _expect(event, "map-failure")

        def fail_item(c: Any, item: int, index: int, items: Any) -> None:
            raise IntentionalFailure("Intentional map iteration failure")

        ctx.map(
            [1], fail_item, name="otel-failed-map", config=map_config("otel-failed-map-iteration")
        ).throw_if_error()

    @durable
    def wait_interrupted(event: Any, ctx: Any) -> Any:
        _expect(event, "wait-interrupted")
        ctx.wait(sdk.Duration.from_seconds(30), name="otel-interrupted-wait")

    @durable
    def wait_for_condition_failure(event: Any, ctx: Any) -> Any:
        _expect(event, "wait-for-condition-failure")
        config = sdk.WaitForConditionConfig(wait_strategy=every_second(lambda s: False), initial_state=0)
        ctx.wait_for_condition(fail_check, config, name="otel-failed-condition")

    @durable
    def wait_for_callback_failure(event: Any, ctx: Any) -> Any:
        _expect(event, "wait-for-callback-failure")
        ctx.wait_for_callback(submit, name="otel-failed-callback")

    @durable
    def chained_invoke_failure(event: Any, ctx: Any) -> Any:
        _expect(event, "chained-invoke-failure")
        ctx.invoke(TARGET_FUNCTION, event, name="otel-failed-invoke")

    @durable
    def failing_target(event: Any, ctx: Any) -> Any:
        raise IntentionalFailure("Intentional chained-invoke target failure")

    @durable
    def execution_failure(event: Any, ctx: Any) -> Any:
        _expect(event, "execution-failure")
        raise IntentionalFailure("Intentional execution failure")

    @durable
    def virtual_context(event: Any, ctx: Any) -> Any:
        _expect(event, "virtual-context")
        return ctx.run_in_child_context(
            lambda child: "virtual-complete",
            name="otel-virtual-context",
            config=sdk.ChildConfig(is_virtual=True),
        )

    @durable
    def long_wait(event: Any, ctx: Any) -> Any:
        _expect(event, "long-wait")
        ctx.wait(sdk.Duration.from_seconds(_delay(event)), name="otel-long-wait")
        return ctx.step(resumed, name="otel-after-long-wait")

    @durable
    def long_retry(event: Any, ctx: Any) -> Any:
        _expect(event, "long-retry")
        return ctx.step(
            fail_first_attempt, name="otel-long-retry", config=retries(2, _delay(event))
        )

    @durable
    def long_callback(event: Any, ctx: Any) -> Any:
        _expect(event, "long-callback")
        _delay(event)
        return ctx.wait_for_callback(submit, name="otel-long-callback")

    @durable
    def long_chained_invoke(event: Any, ctx: Any) -> Any:
        _expect(event, "long-chained-invoke")
        return ctx.invoke(TARGET_FUNCTION, event, name="otel-long-invoke")

    @durable
    def waiting_target(event: Any, ctx: Any) -> Any:
        _expect(event, "long-chained-invoke")
        ctx.wait(sdk.Duration.from_seconds(_delay(event)), name="otel-long-invoke-target-wait")
        return event

    return {
        "success": Requirement(success),
        "wait-resume": Requirement(wait_resume),
        "retry": Requirement(retry),
        "terminal-failure": Requirement(terminal_failure),
        "child-context": Requirement(child_context),
        "parallel-hierarchy": Requirement(parallel_hierarchy),
        "map-hierarchy": Requirement(map_hierarchy),
        "handled-failure": Requirement(handled_failure),
        "wait-for-condition": Requirement(wait_for_condition),
        "wait-for-callback": Requirement(wait_for_callback),
        "chained-invoke": Requirement(chained_invoke, {TARGET_FUNCTION: echo_target}),
        "child-context-failure": Requirement(child_context_failure),
        "parallel-failure": Requirement(parallel_failure),
        "map-failure": Requirement(map_failure),
        "wait-interrupted": Requirement(wait_interrupted),
        "wait-for-condition-failure": Requirement(wait_for_condition_failure),
        "wait-for-callback-failure": Requirement(wait_for_callback_failure),
        "chained-invoke-failure": Requirement(
            chained_invoke_failure, {TARGET_FUNCTION: failing_target}
        ),
        "execution-failure": Requirement(execution_failure),
        "virtual-context": Requirement(virtual_context),
        "long-wait": Requirement(long_wait),
        "long-retry": Requirement(long_retry),
        "long-callback": Requirement(long_callback),
        "long-chained-invoke": Requirement(long_chained_invoke, {TARGET_FUNCTION: waiting_target}),
    }
