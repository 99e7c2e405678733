"""Child-context suite (3-x): operations grouped under ``run_in_child_context``.

Written once against the ``sdk`` namespace, so the same source runs on durable-mp and on
the official SDK. Child contexts are named (most YAMLs bind their Name), and steps inside
retry 1 s after a failure, with no jitter.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conformance.handlers.step import no_retry, retry
from tests.conformance.sdk import Requirement

if TYPE_CHECKING:
    from types import SimpleNamespace


def build(sdk: SimpleNamespace) -> dict[str, Requirement]:
    """The handlers of the child-context suite, by requirement id."""
    return {
        "3-1": child_step(sdk),
        "3-2": named_by_input(sdk),
        "3-3": two_steps_inside(sdk),
        "3-4": failing_step_inside(sdk, caught=False),
        "3-5": failing_step_inside(sdk, caught=True),
        "3-7": retried_step_inside(sdk, attempts=2, succeeds=True),
        "3-8": retried_step_inside(sdk, attempts=2, succeeds=False),
        "3-9": child_then_wait(sdk),
        "3-10": step_and_wait_inside(sdk),
        "3-12": crash_inside(sdk),
        "3-13": wait_inside_then_step(sdk),
        "3-14": uppercase_child_serdes(sdk),
        "3-15": raises_directly(sdk),
        "3-16": returns_none(sdk),
        "3-17": logs_only_then_wait(sdk),
        "3-18": inside_and_after(sdk),
    }


def wait_second(sdk: SimpleNamespace, ctx: Any) -> None:
    ctx.wait(sdk.Duration.from_seconds(1))


def child_step(sdk: SimpleNamespace) -> Requirement:
    """3-1: a child whose one step returns the input."""

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(lambda child: child.step(lambda _: event), name="child")

    return Requirement(sdk.durable_execution(handler))


def named_by_input(sdk: SimpleNamespace) -> Requirement:
    """3-2: the child is named by the input's "name"; its step returns "value"."""

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(
            lambda child: child.step(lambda _: event["value"]), name=event["name"]
        )

    return Requirement(sdk.durable_execution(handler))


def two_steps_inside(sdk: SimpleNamespace) -> Requirement:
    """3-3: the second step inside the child gets the first step's result."""

    def body(child: Any, event: Any) -> Any:
        first = child.step(lambda _: event)
        return child.step(lambda _: first)

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(lambda child: body(child, event), name="child")

    return Requirement(sdk.durable_execution(handler))


def fail(step_ctx: Any) -> None:
    raise RuntimeError(f"step failed on attempt {step_ctx.attempt}")


def failing_step_inside(sdk: SimpleNamespace, caught: bool) -> Requirement:
    """3-4 (the execution fails), 3-5 (caught; a recovery step returns the input)."""

    def handler(event: Any, ctx: Any) -> Any:
        if not caught:
            return ctx.run_in_child_context(
                lambda child: child.step(fail, config=no_retry(sdk)), name="child"
            )
        try:
            ctx.run_in_child_context(
                lambda child: child.step(fail, config=no_retry(sdk)), name="child"
            )
        except sdk.ChildContextError:
            pass
        return ctx.step(lambda _: event)

    return Requirement(sdk.durable_execution(handler))


def retried_step_inside(sdk: SimpleNamespace, attempts: int, succeeds: bool) -> Requirement:
    """3-7 (first attempt fails, the retry returns the input), 3-8 (both attempts fail)."""

    def flaky(step_ctx: Any, event: Any) -> Any:
        if step_ctx.attempt == 1 or not succeeds:
            fail(step_ctx)
        return event

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(
            lambda child: child.step(
                lambda step_ctx: flaky(step_ctx, event), config=retry(sdk, attempts=attempts)
            ),
            name="child",
        )

    return Requirement(sdk.durable_execution(handler))


def child_then_wait(sdk: SimpleNamespace) -> Requirement:
    """3-9: a child with a step, then a wait; the replay takes the child's cached result."""

    def handler(event: Any, ctx: Any) -> Any:
        value = ctx.run_in_child_context(lambda child: child.step(lambda _: event), name="child")
        wait_second(sdk, ctx)
        return value

    return Requirement(sdk.durable_execution(handler))


def step_and_wait_inside(sdk: SimpleNamespace) -> Requirement:
    """3-10: a step then a wait, both inside the child, which returns the input."""

    def body(child: Any, event: Any) -> Any:
        value = child.step(lambda _: event)
        wait_second(sdk, child)
        return value

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(lambda child: body(child, event), name="child")

    return Requirement(sdk.durable_execution(handler))


def crash_marker(event: Any) -> Path:
    """Where 3-12 remembers, across runtimes, that it crashed once for this input: a
    directory the harness shares (each Lambda sandbox's /tmp is its own)."""
    shared = os.environ.get("DURABLE_CONFORMANCE_MARKERS") or tempfile.gettempdir()
    return Path(shared) / f"durable-conformance-3-12-{event}"


def crash_inside(sdk: SimpleNamespace) -> Requirement:
    """3-12: the child's step kills the Lambda runtime once, after StepStarted is
    checkpointed; the next invocation runs it again and it returns the input.

    The step pauses before the crash so the at-least-once StepStarted, which the SDKs
    send without waiting, is recorded first, as the requirement describes.
    """

    def crash_once(step_ctx: Any, event: Any) -> Any:
        marker = crash_marker(event)
        if not marker.exists():
            marker.touch()
            time.sleep(1.0)
            os._exit(1)
        marker.unlink(missing_ok=True)
        return event

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(
            lambda child: child.step(lambda step_ctx: crash_once(step_ctx, event)), name="child"
        )

    return Requirement(sdk.durable_execution(handler), step_executor="inline")


def wait_inside_then_step(sdk: SimpleNamespace) -> Requirement:
    """3-13: a child holding only a wait returns the input; a step outside returns it too."""

    def body(child: Any, event: Any) -> Any:
        wait_second(sdk, child)
        return event

    def handler(event: Any, ctx: Any) -> Any:
        ctx.run_in_child_context(lambda child: body(child, event), name="child")
        return ctx.step(lambda _: event)

    return Requirement(sdk.durable_execution(handler))


def uppercase_child_serdes(sdk: SimpleNamespace) -> Requirement:
    """3-14: the child's serdes writes its result upper-cased, as plain text."""

    class UppercaseText(sdk.SerDes):  # type: ignore[misc,name-defined]
        def serialize(self, value: Any, serdes_context: Any) -> str:
            return str(value).upper()

        def deserialize(self, data: str, serdes_context: Any) -> Any:
            return data

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(
            lambda child: child.step(lambda _: event),
            name="child",
            config=sdk.ChildConfig(serdes=UppercaseText()),
        )

    return Requirement(sdk.durable_execution(handler))


def raises_directly(sdk: SimpleNamespace) -> Requirement:
    """3-15: the child body raises without starting any operation."""

    def body(child: Any) -> Any:
        raise RuntimeError("raised in the child body")

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(body, name="child")

    return Requirement(sdk.durable_execution(handler))


def returns_none(sdk: SimpleNamespace) -> Requirement:
    """3-16: the child body returns None without starting any operation."""

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(lambda child: None, name="child")

    return Requirement(sdk.durable_execution(handler))


def logs_only_then_wait(sdk: SimpleNamespace) -> Requirement:
    """3-17: the child only logs the input, with replay logging on, then a wait outside.

    The logger keeps logging during replay, so a child body wrongly run again by the
    replay would log the input a second time.
    """

    def body(child: Any, event: Any) -> Any:
        child.logger.with_is_replaying(lambda: False).info(f"child logged {event}")
        return event

    def handler(event: Any, ctx: Any) -> Any:
        value = ctx.run_in_child_context(lambda child: body(child, event), name="child")
        wait_second(sdk, ctx)
        return value

    return Requirement(sdk.durable_execution(handler))


def inside_and_after(sdk: SimpleNamespace) -> Requirement:
    """3-18: a step and a wait in the child, then a step and a wait after it."""

    def body(child: Any, event: Any) -> Any:
        value = child.step(lambda _: event)
        wait_second(sdk, child)
        return value

    def handler(event: Any, ctx: Any) -> Any:
        value = ctx.run_in_child_context(lambda child: body(child, event), name="child")
        after = ctx.step(lambda _: value)
        wait_second(sdk, ctx)
        return after

    return Requirement(sdk.durable_execution(handler))
