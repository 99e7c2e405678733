"""Handlers for ``python -m benchmarks.sandbox`` (served by ``durable-mp serve``)."""

from __future__ import annotations

import os
import time
from typing import Any

from aws_durable_execution_sdk_python import durable_execution as official_durable_execution

from durable_mp import DurableContext, durable_execution


def burn(seconds: float) -> int:
    end = time.process_time() + seconds
    while time.process_time() < end:
        sum(range(2000))
    return os.getpid()


@durable_execution
def cpu_map(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """A map of CPU-bound steps, timed between two checkpointed clock readings."""
    items, seconds = int(event["items"]), float(event["seconds"])
    started = ctx.step(lambda _: time.time(), name="t0")
    batch = ctx.map(
        list(range(items)),
        lambda child, item, index, _: child.step(lambda _: burn(seconds), name=f"item-{item}"),
        name="map",
    )
    ended = ctx.step(lambda _: time.time(), name="t1")
    return {"seconds": ended - started, "workers": sorted(set(batch.get_results())),
            "items": len(batch.get_results())}


def _one_step(event: Any, ctx: Any) -> str:
    return str(ctx.step(lambda _: "done", name="only"))


process_mode = durable_execution(step_executor="process")(_one_step)
thread_mode = durable_execution(step_executor="thread")(_one_step)
official = official_durable_execution(_one_step)
