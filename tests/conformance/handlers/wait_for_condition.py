"""Handlers of the wait_for_condition conformance suite (6-x), written once for both SDKs.

Each factory builds the handler its requirement's YAML describes in prose. Strategies
poll again after 1 second unless the YAML names a delay; the harness skips waits anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.conformance.sdk import Requirement

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import SimpleNamespace


class CheckFailure(Exception):
    """What a failing check raises; any error type satisfies the requirements."""


def increment(state: int, check_ctx: Any) -> int:
    """The counter check most requirements poll."""
    return state + 1


def raise_on_check(state: Any, check_ctx: Any) -> Any:
    """A check that fails on its first (and so only) invocation."""
    raise CheckFailure("check failed")


def poll_until(sdk: SimpleNamespace, done: Callable[[Any], bool]) -> Callable[[Any, int], Any]:
    """A strategy that stops once ``done(state)`` and otherwise polls again after 1 s."""

    def strategy(state: Any, attempts_made: int) -> Any:
        if done(state):
            return sdk.WaitForConditionDecision.stop_polling()
        return sdk.WaitForConditionDecision.continue_waiting(sdk.Duration.from_seconds(1))

    return strategy


def count_to(sdk: SimpleNamespace, threshold: int, initial: int = 0) -> Any:
    """Increment from ``initial`` until the state reaches ``threshold``."""
    return sdk.WaitForConditionConfig(
        wait_strategy=poll_until(sdk, lambda state: state >= threshold), initial_state=initial
    )


def basic(sdk: SimpleNamespace) -> Callable[..., Any]:
    """6-1: count from 0 to the input threshold (3), one poll per invocation."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.wait_for_condition(increment, count_to(sdk, event))

    return handler


def immediate(sdk: SimpleNamespace) -> Callable[..., Any]:
    """6-2: state 5 already satisfies state >= 5; the check returns it unchanged."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.WaitForConditionConfig(
            wait_strategy=poll_until(sdk, lambda state: state >= 5), initial_state=5
        )
        return ctx.wait_for_condition(lambda state, check_ctx: state, config)

    return handler


def named(sdk: SimpleNamespace) -> Callable[..., Any]:
    """6-3: the name "poll-status" on every poll event; count from 0 to 2."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.wait_for_condition(increment, count_to(sdk, 2), name="poll-status")

    return handler


def initial_state(sdk: SimpleNamespace) -> Callable[..., Any]:
    """6-4: count from the initial state 5 to the input threshold (8)."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.wait_for_condition(increment, count_to(sdk, event, initial=5))

    return handler


def fixed_delay(sdk: SimpleNamespace) -> Callable[..., Any]:
    """6-5: a 2 s fixed-delay strategy (backoff rate 1, no jitter) up to the input (3)."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        strategy = sdk.create_wait_strategy(
            sdk.WaitStrategyConfig(
                should_continue_polling=lambda state: state < event,
                initial_delay=sdk.Duration.from_seconds(2),
                backoff_rate=1,
                jitter_strategy=sdk.JitterStrategy.NONE,
            )
        )
        config = sdk.WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
        return ctx.wait_for_condition(increment, config)

    return handler


def check_raises(sdk: SimpleNamespace) -> Callable[..., Any]:
    """6-7: the first check raises; uncaught, so the execution fails."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.wait_for_condition(raise_on_check, count_to(sdk, 1))

    return handler


def check_raises_caught(sdk: SimpleNamespace) -> Callable[..., Any]:
    """6-8: the first check raises; the handler catches it and returns "recovered"."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        try:
            return ctx.wait_for_condition(raise_on_check, count_to(sdk, 1))
        except Exception:
            return "recovered"

    return handler


def null_state(sdk: SimpleNamespace) -> Callable[..., Any]:
    """6-10: the check returns None and the strategy stops on the first attempt."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.WaitForConditionConfig(
            wait_strategy=poll_until(sdk, lambda state: True), initial_state=None
        )
        return ctx.wait_for_condition(lambda state, check_ctx: None, config)

    return handler


def custom_serdes(sdk: SimpleNamespace) -> Callable[..., Any]:
    """6-11: a string state kept through a custom serdes; append "x" until it is "xx"."""

    class Encoded(sdk.SerDes):  # type: ignore[name-defined,misc]
        """Non-identity and reversible, so replay only works if it decodes."""

        def serialize(self, value: str, serdes_context: Any) -> str:
            return f"encoded:{value[::-1]}"

        def deserialize(self, data: str, serdes_context: Any) -> str:
            return data.removeprefix("encoded:")[::-1]

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.WaitForConditionConfig(
            wait_strategy=poll_until(sdk, lambda state: len(state) >= 2),
            initial_state="",
            serdes=Encoded(),
        )
        return ctx.wait_for_condition(lambda state, check_ctx: state + "x", config)

    return handler


def feeds_step(sdk: SimpleNamespace) -> Callable[..., Any]:
    """6-12: count to the input (2), then a step multiplies the final state by 10."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        final = ctx.wait_for_condition(increment, count_to(sdk, event))
        return ctx.step(lambda _: final * 10)

    return handler


def sequential(sdk: SimpleNamespace) -> Callable[..., Any]:
    """6-13: count 0 -> 2, then seed a second operation with 2 and count to 4."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        first = ctx.wait_for_condition(increment, count_to(sdk, 2))
        return ctx.wait_for_condition(increment, count_to(sdk, 4, initial=first))

    return handler


def build(sdk: SimpleNamespace) -> dict[str, Requirement]:
    """The wait_for_condition requirements by id, for ``sdk``."""
    factories = {
        "6-1": basic,
        "6-2": immediate,
        "6-3": named,
        "6-4": initial_state,
        "6-5": fixed_delay,
        "6-7": check_raises,
        "6-8": check_raises_caught,
        "6-10": null_state,
        "6-11": custom_serdes,
        "6-12": feeds_step,
        "6-13": sequential,
    }
    return {rid: Requirement(factory(sdk)) for rid, factory in factories.items()}
