"""Callback suite (4-x): ``create_callback`` and the callback's ``result()``.

Each factory builds the handler its YAML's ``handler`` prose describes, against the
``sdk`` namespace only, so the same source runs on durable-mp and on the official SDK.
The outside world (CallbackActions, or nobody, for the timeouts) is the runner's part.
Step bodies are closures: they run in worker processes, so they are pickled by value.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tests.conformance.sdk import Requirement

if TYPE_CHECKING:
    from types import SimpleNamespace


def build(sdk: SimpleNamespace) -> dict[str, Requirement]:
    """The handlers of the callback suite, by requirement id."""
    return {
        "4-1": await_callback(sdk),
        "4-2": await_callback(sdk, name="approval"),
        "4-3": await_callback(sdk, timeout=5),
        "4-4": await_callback(sdk, heartbeat_timeout=5),
        "4-6": await_callback(sdk),
        "4-7": step_between(sdk),
        "4-8": step_between(sdk, timeout=5),
        "4-9": wait_between(sdk, seconds=5),
        "4-10": wait_between(sdk, seconds=5),
        "4-11": wait_between(sdk, seconds=6, timeout=3),
        "4-12": wait_after_result(sdk),
        "4-13": wait_after_caught_failure(sdk),
        "4-15": typed_deserializer(sdk),
        "4-16": numeric_deserializer(sdk),
        "4-17": two_in_sequence(sdk),
        "4-18": two_created_first(sdk),
    }


def callback_config(sdk: SimpleNamespace, timeout: int = 0, heartbeat_timeout: int = 0) -> Any:
    """CallbackConfig with the timeouts in seconds (0: none), or None when both are 0,
    so the plain requirements call ``create_callback`` without a config at all."""
    if not timeout and not heartbeat_timeout:
        return None
    return sdk.CallbackConfig(
        timeout=sdk.Duration.from_seconds(timeout),
        heartbeat_timeout=sdk.Duration.from_seconds(heartbeat_timeout),
    )


def await_callback(
    sdk: SimpleNamespace, name: str | None = None, timeout: int = 0, heartbeat_timeout: int = 0
) -> Requirement:
    """4-1, 4-2, 4-3, 4-4, 4-6: create a callback (named ``name``, else the input), return
    its result; a failure or timeout is not caught, so it fails the execution."""
    config = callback_config(sdk, timeout, heartbeat_timeout)

    def handler(event: Any, ctx: Any) -> Any:
        callback = ctx.create_callback(name=name or event, config=config)
        return callback.result()

    return Requirement(sdk.durable_execution(handler))


def step_between(sdk: SimpleNamespace, timeout: int = 0) -> Requirement:
    """4-7, 4-8: a step runs between creating the callback and awaiting it."""
    config = callback_config(sdk, timeout)

    def handler(event: Any, ctx: Any) -> Any:
        callback = ctx.create_callback(name=event, config=config)
        ctx.step(lambda _: "step done")
        return callback.result()

    return Requirement(sdk.durable_execution(handler))


def wait_between(sdk: SimpleNamespace, seconds: int, timeout: int = 0) -> Requirement:
    """4-9, 4-10, 4-11: a durable wait between creating the callback and awaiting it, so
    the callback resolves (or times out) while the execution is suspended for the wait."""
    config = callback_config(sdk, timeout)

    def handler(event: Any, ctx: Any) -> Any:
        callback = ctx.create_callback(name=event, config=config)
        ctx.wait(sdk.Duration.from_seconds(seconds))
        return callback.result()

    return Requirement(sdk.durable_execution(handler))


def wait_after_result(sdk: SimpleNamespace) -> Requirement:
    """4-12: the callback resolves first, then a 2-second wait, then its result returns."""

    def handler(event: Any, ctx: Any) -> Any:
        result = ctx.create_callback(name=event).result()
        ctx.wait(sdk.Duration.from_seconds(2))
        return result

    return Requirement(sdk.durable_execution(handler))


def wait_after_caught_failure(sdk: SimpleNamespace) -> Requirement:
    """4-13: the external failure is caught and kept as a message; a 2-second wait
    follows, and the message is returned (the failure re-raises on every replay)."""

    def handler(event: Any, ctx: Any) -> Any:
        callback = ctx.create_callback(name=event)
        try:
            message = callback.result()
        except sdk.CallbackExternalError as error:
            message = f"callback failed: {error.message}"
        ctx.wait(sdk.Duration.from_seconds(2))
        return message

    return Requirement(sdk.durable_execution(handler))


@dataclass(frozen=True)
class Received:
    """4-15's typed callback payload: the timestamp parsed into epoch seconds."""

    id: str
    message: str
    timestamp: int


def typed_deserializer(sdk: SimpleNamespace) -> Requirement:
    """4-15: a custom serdes turns the raw JSON payload into a :class:`Received`, its ISO
    timestamp into epoch seconds; the handler returns it as ``{"received": {...}}``."""

    class ReceivedSerDes(sdk.SerDes):  # type: ignore[misc, name-defined]
        def serialize(self, value: Any, serdes_context: Any) -> str:
            return json.dumps(asdict(value))

        def deserialize(self, data: str, serdes_context: Any) -> Received:
            raw = json.loads(data)
            moment = datetime.datetime.fromisoformat(raw["timestamp"])
            return Received(raw["id"], raw["message"], int(moment.timestamp()))

    config = sdk.CallbackConfig(serdes=ReceivedSerDes())

    def handler(event: Any, ctx: Any) -> Any:
        received = ctx.create_callback(name=event, config=config).result()
        return {"received": asdict(received)}

    return Requirement(sdk.durable_execution(handler))


def numeric_deserializer(sdk: SimpleNamespace) -> Requirement:
    """4-16: a custom serdes parses the payload into a number; the handler returns it
    and its double."""

    class NumberSerDes(sdk.SerDes):  # type: ignore[misc, name-defined]
        def serialize(self, value: Any, serdes_context: Any) -> str:
            return str(value)

        def deserialize(self, data: str, serdes_context: Any) -> int:
            return int(json.loads(data))

    config = sdk.CallbackConfig(serdes=NumberSerDes())

    def handler(event: Any, ctx: Any) -> Any:
        count = ctx.create_callback(name=event, config=config).result()
        return {"count": count, "doubled": count * 2}

    return Requirement(sdk.durable_execution(handler))


def two_in_sequence(sdk: SimpleNamespace) -> Requirement:
    """4-17: callback A (named input[0]) is created and awaited, then callback B
    (input[1]); both results are returned."""

    def handler(event: Any, ctx: Any) -> Any:
        first = ctx.create_callback(name=event[0]).result()
        second = ctx.create_callback(name=event[1]).result()
        return [first, second]

    return Requirement(sdk.durable_execution(handler))


def two_created_first(sdk: SimpleNamespace) -> Requirement:
    """4-18: callbacks A and B are both created, then A and B are awaited in order."""

    def handler(event: Any, ctx: Any) -> Any:
        first = ctx.create_callback(name=event[0])
        second = ctx.create_callback(name=event[1])
        return [first.result(), second.result()]

    return Requirement(sdk.durable_execution(handler))
