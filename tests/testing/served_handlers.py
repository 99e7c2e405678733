"""A handler that ``durable-mp serve`` serves to AWS's local durable service in the cloud
runner's test."""

from __future__ import annotations

from typing import Any

from durable_mp import DurableContext, Duration, durable_execution


@durable_execution
def approval_flow(event: Any, ctx: DurableContext) -> dict[str, Any]:
    quote = ctx.step(lambda _: event["n"] * 3, name="quote")
    ctx.wait(Duration.from_seconds(1), name="pause")
    decision = ctx.create_callback(name="approval").result()
    return {"quote": quote, "decision": decision}
