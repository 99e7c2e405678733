"""Invoke suite (5-x): chained ``invoke`` of other functions, with its replay and serdes.

Each factory builds the handler its YAML's ``handler`` prose describes, against the
``sdk`` namespace only, so the same source runs on durable-mp and on the official SDK.
The targets are durable functions too (``Requirement.functions``): the requirements
expect every ChainedInvokeStarted to name the target's DurableExecutionArn, which only
a durable target has.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from tests.conformance.sdk import Requirement

if TYPE_CHECKING:
    from types import SimpleNamespace

ECHO = "echo-target"
FAILING = "failing-target"
LARGE_PAYLOAD_CHARS = 250_000  # the JSON string stays under Lambda's 256 KiB async limit
# On the real service a chained invocation starts long after its caller has suspended.
# Local services start the target at once; a warm target that answers in a few
# milliseconds can then finish before the caller's invocation has been recorded as
# completed, which reorders the history the requirements expect. A target that takes a
# realistic moment keeps the order of the real service.
TARGET_SECONDS = 1.0


def build(sdk: SimpleNamespace) -> dict[str, Requirement]:
    """The handlers of the invoke suite, by requirement id."""
    return {
        "5-1": invoke_echo(sdk, lambda event: event),
        "5-2": named_invoke(sdk),
        "5-3": invoke_echo(sdk, lambda event: event),
        "5-4": invoke_echo(sdk, lambda event: None),
        "5-6": failure_caught(sdk),
        "5-7": large_payload(sdk),
        "5-8": tenant_invoke(sdk),
        "5-9": wait_after_invoke(sdk),
        "5-10": wait_after_caught_failure(sdk),
        "5-11": step_then_invoke(sdk),
        "5-12": invoke_then_step(sdk),
        "5-14": two_in_sequence(sdk),
        "5-15": payload_serdes(sdk),
        "5-16": result_serdes(sdk),
    }


def echo(sdk: SimpleNamespace) -> Any:
    """A durable target that returns its input unchanged."""

    def handler(event: Any, ctx: Any) -> Any:
        time.sleep(TARGET_SECONDS)
        return event

    return sdk.durable_execution(handler)


def failing(sdk: SimpleNamespace) -> Any:
    """A durable target that fails, so the caller's invoke raises InvokeError."""

    def handler(event: Any, ctx: Any) -> Any:
        time.sleep(TARGET_SECONDS)
        raise RuntimeError("target failed")

    return sdk.durable_execution(handler)


def invoke_echo(sdk: SimpleNamespace, payload: Any) -> Requirement:
    """5-1, 5-3, 5-4: invoke the echo target with ``payload(event)``; return its result."""

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.invoke(ECHO, payload(event))

    return Requirement(sdk.durable_execution(handler), {ECHO: echo(sdk)})


def named_invoke(sdk: SimpleNamespace) -> Requirement:
    """5-2: the invoke is named by the input's "name"; its "payload" is echoed."""

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.invoke(ECHO, event["payload"], name=event["name"])

    return Requirement(sdk.durable_execution(handler), {ECHO: echo(sdk)})


def failure_caught(sdk: SimpleNamespace) -> Requirement:
    """5-6: the target fails; InvokeError is caught and a fallback returned."""

    def handler(event: Any, ctx: Any) -> Any:
        try:
            return ctx.invoke(FAILING, None)
        except sdk.InvokeError:
            return "fallback"

    return Requirement(sdk.durable_execution(handler), {FAILING: failing(sdk)})


def large_payload(sdk: SimpleNamespace) -> Requirement:
    """5-7: a payload near the Lambda payload size limit; the target measures it."""

    def measure(event: Any, ctx: Any) -> Any:
        return {"length": len(event)}

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.invoke("measuring-target", "x" * LARGE_PAYLOAD_CHARS)

    return Requirement(
        sdk.durable_execution(handler), {"measuring-target": sdk.durable_execution(measure)}
    )


def tenant_invoke(sdk: SimpleNamespace) -> Requirement:
    """5-8: the input's "payload" is echoed by an invoke scoped to its "tenantId"."""

    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.InvokeConfig(tenant_id=event["tenantId"])
        return ctx.invoke(ECHO, event["payload"], config=config)

    return Requirement(sdk.durable_execution(handler), {ECHO: echo(sdk)})


def wait_after_invoke(sdk: SimpleNamespace) -> Requirement:
    """5-9: invoke, then a 1-second wait; the replay after the wait takes the invoke's
    result from the checkpoint without invoking again."""

    def handler(event: Any, ctx: Any) -> Any:
        result = ctx.invoke(ECHO, None)
        ctx.wait(sdk.Duration.from_seconds(1))
        return result

    return Requirement(sdk.durable_execution(handler), {ECHO: echo(sdk)})


def wait_after_caught_failure(sdk: SimpleNamespace) -> Requirement:
    """5-10: the failed invoke is caught, then a 1-second wait; the replay after the
    wait re-raises the checkpointed error, caught again, without invoking again."""

    def handler(event: Any, ctx: Any) -> Any:
        try:
            outcome = ctx.invoke(FAILING, None)
        except sdk.InvokeError as error:
            outcome = f"caught: {error.message}"
        ctx.wait(sdk.Duration.from_seconds(1))
        return outcome

    return Requirement(sdk.durable_execution(handler), {FAILING: failing(sdk)})


def step_then_invoke(sdk: SimpleNamespace) -> Requirement:
    """5-11: a step, then an invoke of the echo target with the step's result."""

    def handler(event: Any, ctx: Any) -> Any:
        produced = ctx.step(lambda _: "from step")
        return ctx.invoke(ECHO, produced)

    return Requirement(sdk.durable_execution(handler), {ECHO: echo(sdk)})


def invoke_then_step(sdk: SimpleNamespace) -> Requirement:
    """5-12: an invoke, then a step that processes its result and returns it."""

    def handler(event: Any, ctx: Any) -> Any:
        result = ctx.invoke(ECHO, "from invoke")
        return ctx.step(lambda _: f"processed: {result}")

    return Requirement(sdk.durable_execution(handler), {ECHO: echo(sdk)})


def two_in_sequence(sdk: SimpleNamespace) -> Requirement:
    """5-14: two targets invoked one after the other; both results are returned."""

    def handler(event: Any, ctx: Any) -> Any:
        first = ctx.invoke("first-target", "one")
        second = ctx.invoke("second-target", "two")
        return [first, second]

    return Requirement(
        sdk.durable_execution(handler), {"first-target": echo(sdk), "second-target": echo(sdk)}
    )


def payload_serdes(sdk: SimpleNamespace) -> Requirement:
    """5-15: a custom payload serdes uppercases the JSON it sends, so the echo target
    receives (and returns) the transformed payload."""

    class UpperSerDes(sdk.SerDes):  # type: ignore[misc, name-defined]
        def serialize(self, value: Any, serdes_context: Any) -> str:
            return json.dumps(value).upper()

        def deserialize(self, data: str, serdes_context: Any) -> Any:
            return json.loads(data)

    config = sdk.InvokeConfig(serdes_payload=UpperSerDes())

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.invoke(ECHO, event, config=config)

    return Requirement(sdk.durable_execution(handler), {ECHO: echo(sdk)})


def result_serdes(sdk: SimpleNamespace) -> Requirement:
    """5-16: a custom result serdes uppercases the raw result it receives (the JSON text
    '"hello"' becomes the string '"HELLO"', quotes included), which is returned."""

    class UpperSerDes(sdk.SerDes):  # type: ignore[misc, name-defined]
        def serialize(self, value: Any, serdes_context: Any) -> str:
            return json.dumps(value)

        def deserialize(self, data: str, serdes_context: Any) -> Any:
            return data.upper()

    config = sdk.InvokeConfig(serdes_result=UpperSerDes())

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.invoke(ECHO, event, config=config)

    return Requirement(sdk.durable_execution(handler), {ECHO: echo(sdk)})
