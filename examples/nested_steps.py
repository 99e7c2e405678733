"""Nested waits: step bodies that await other steps' futures, across processes.

    durable-mp run examples/nested_steps.py:handler --input '{"n": 10}' --log-level DEBUG

The DEBUG log shows each hand-off: the waiting step deregisters while it waits, and the
step it waits for re-registers it before deregistering itself, so the count of active
contexts never drops to zero in between.
"""

from __future__ import annotations

import time

from durable_mp import DurableContext, DurableFuture, StepContext, durable_execution


def fetch(step: StepContext) -> str:
    time.sleep(0.5)  # the first step takes a while
    return "report"


def fibonacci(ctx: DurableContext, n: int) -> int:
    """Step k awaits the futures of steps k-1 and k-2 inside its own body."""
    futures: list[DurableFuture[int]] = []
    for k in range(n + 1):
        if k < 2:
            futures.append(ctx.step_async(lambda _, k=k: k, name=f"fib-{k}"))
            continue
        previous, before = futures[k - 1], futures[k - 2]

        def add(step: StepContext, previous=previous, before=before) -> int:
            return previous.result() + before.result()

        futures.append(ctx.step_async(add, name=f"fib-{k}"))
    return futures[n].result()


@durable_execution
def handler(event: dict[str, int], ctx: DurableContext) -> dict[str, object]:
    first = ctx.step_async(fetch, name="fetch")

    def process(step: StepContext) -> str:
        return f"{first.result()}-processed"  # waits inside the body, in a worker

    processed = ctx.step(process, name="process")
    return {"processed": processed, "fibonacci": fibonacci(ctx, int(event.get("n", 10)))}
