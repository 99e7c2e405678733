"""Wait-for-callback suite (7-x): ``wait_for_callback`` alone, named, nested and mixed.

Each factory builds the handler its YAML's ``handler`` prose describes, against the
``sdk`` namespace only, so the same source runs on durable-mp and on the official SDK.
The submitters do nothing durable; the outside world (CallbackActions, or nobody, for
the timeouts) completes the callback. Submitters and step bodies are closures: they
run in worker processes, so they are pickled by value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.conformance.sdk import Requirement

if TYPE_CHECKING:
    from types import SimpleNamespace


def build(sdk: SimpleNamespace) -> dict[str, Requirement]:
    """The handlers of the wait-for-callback suite, by requirement id."""
    return {
        "7-1": single(sdk),
        "7-2": single(sdk, name="approval"),
        "7-3": anonymous(sdk),
        "7-4": single(sdk),
        "7-5": single(sdk, timeout=3),
        "7-6": failure_caught(sdk),
        "7-8": in_child_context(sdk),
        "7-9": two_in_sequence(sdk),
        "7-10": after_wait_and_step(sdk),
        "7-11": json_result(sdk),
        "7-12": single(sdk, heartbeat_timeout=5),
        "7-14": timeout_caught(sdk),
        "7-15": single(sdk),
    }


def config_of(sdk: SimpleNamespace, timeout: int = 0, heartbeat_timeout: int = 0) -> Any:
    """WaitForCallbackConfig with the timeouts in seconds (0: none), or None when both are
    0, so the plain requirements call ``wait_for_callback`` without a config at all."""
    if not timeout and not heartbeat_timeout:
        return None
    return sdk.WaitForCallbackConfig(
        timeout=sdk.Duration.from_seconds(timeout),
        heartbeat_timeout=sdk.Duration.from_seconds(heartbeat_timeout),
    )


def single(
    sdk: SimpleNamespace, name: str | None = None, timeout: int = 0, heartbeat_timeout: int = 0
) -> Requirement:
    """7-1, 7-2, 7-4, 7-5, 7-12, 7-15: one wait_for_callback named ``name`` (else the
    input) whose result is returned; a failure or timeout is not caught."""
    config = config_of(sdk, timeout, heartbeat_timeout)

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.wait_for_callback(lambda callback_id, _: None, name=name or event, config=config)

    return Requirement(sdk.durable_execution(handler))


def anonymous(sdk: SimpleNamespace) -> Requirement:
    """7-3: only an inline submitter, no name, so the operation gets no Name."""

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.wait_for_callback(lambda callback_id, _: None)

    return Requirement(sdk.durable_execution(handler))


def failure_caught(sdk: SimpleNamespace) -> Requirement:
    """7-6: the external failure is caught and "recovered" returned."""

    def handler(event: Any, ctx: Any) -> Any:
        try:
            return ctx.wait_for_callback(lambda callback_id, _: None, name=event)
        except sdk.CallbackExternalError:
            return "recovered"

    return Requirement(sdk.durable_execution(handler))


def timeout_caught(sdk: SimpleNamespace) -> Requirement:
    """7-14: a 3-second timeout elapses; the timeout error is caught and
    "timed-out-handled" returned."""
    config = config_of(sdk, timeout=3)

    def handler(event: Any, ctx: Any) -> Any:
        try:
            return ctx.wait_for_callback(lambda callback_id, _: None, name=event, config=config)
        except sdk.CallbackTimeoutError:
            return "timed-out-handled"

    return Requirement(sdk.durable_execution(handler))


def in_child_context(sdk: SimpleNamespace) -> Requirement:
    """7-8: the wait_for_callback runs inside a child context named "wrapper", which
    returns the callback result."""

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(
            lambda child: child.wait_for_callback(lambda callback_id, _: None, name=event),
            name="wrapper",
        )

    return Requirement(sdk.durable_execution(handler))


def two_in_sequence(sdk: SimpleNamespace) -> Requirement:
    """7-9: "first", then "second"; the second result is returned."""

    def handler(event: Any, ctx: Any) -> Any:
        ctx.wait_for_callback(lambda callback_id, _: None, name="first")
        return ctx.wait_for_callback(lambda callback_id, _: None, name="second")

    return Requirement(sdk.durable_execution(handler))


def after_wait_and_step(sdk: SimpleNamespace) -> Requirement:
    """7-10: a 1-second wait, a top-level step returning fixed data, then the
    wait_for_callback whose result is returned."""

    def handler(event: Any, ctx: Any) -> Any:
        ctx.wait(sdk.Duration.from_seconds(1))
        ctx.step(lambda _: {"fixed": "data"})
        return ctx.wait_for_callback(lambda callback_id, _: None, name=event)

    return Requirement(sdk.durable_execution(handler))


def json_result(sdk: SimpleNamespace) -> Requirement:
    """7-11: the payload is deserialized as JSON (not the default raw string); the
    "status" field is returned."""
    config = sdk.WaitForCallbackConfig(serdes=sdk.JsonSerDes())

    def handler(event: Any, ctx: Any) -> Any:
        result = ctx.wait_for_callback(lambda callback_id, _: None, name=event, config=config)
        return result["status"]

    return Requirement(sdk.durable_execution(handler))
