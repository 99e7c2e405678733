"""Wait suite (2-x): waits suspend the execution and resume it when they elapse.

Written once against the ``sdk`` namespace, so the same source runs on durable-mp and on
the official SDK. Durations are the YAMLs' own (2 s; one hour for 2-5, whose requirement
only checks the WaitStarted checkpoint).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.conformance.sdk import Requirement

if TYPE_CHECKING:
    from types import SimpleNamespace


def build(sdk: SimpleNamespace) -> dict[str, Requirement]:
    """The handlers of the wait suite, by requirement id."""
    return {
        "2-1": one_wait(sdk, sdk.Duration.from_seconds(2)),
        "2-2": one_wait(sdk, sdk.Duration.from_seconds(2), name="custom_wait_name"),
        "2-3": two_waits(sdk),
        "2-5": one_wait(sdk, sdk.Duration.from_hours(1)),
    }


def one_wait(sdk: SimpleNamespace, duration: Any, name: str | None = None) -> Requirement:
    """2-1, 2-2 (named), 2-5 (one hour): a single wait."""

    def handler(event: Any, ctx: Any) -> Any:
        ctx.wait(duration, name=name)

    return Requirement(sdk.durable_execution(handler))


def two_waits(sdk: SimpleNamespace) -> Requirement:
    """2-3: "wait-1" then "wait-2", 2 s each, one invocation per wait."""

    def handler(event: Any, ctx: Any) -> Any:
        ctx.wait(sdk.Duration.from_seconds(2), name="wait-1")
        ctx.wait(sdk.Duration.from_seconds(2), name="wait-2")
        return {"completedWaits": 2}

    return Requirement(sdk.durable_execution(handler))
