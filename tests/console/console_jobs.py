"""Handlers the console tests run with ``durable-mp run`` (in another process, as a user
would): a CPU-bound map, a run that waits for a callback, one that waits for an hour, a
step that fails once and is retried."""

from __future__ import annotations

from durable_mp import (
    Duration,
    JitterStrategy,
    RetryStrategyConfig,
    StepConfig,
    create_retry_strategy,
    durable_execution,
)


def burn(work: int, value: int) -> int:
    """A fixed amount of pure-Python arithmetic (it holds the GIL when run in a thread,
    so threads take turns while processes run side by side)."""
    total = 0
    for number in range(work):
        total += number * number
    return value * value + total % 2


@durable_execution(step_executor="process", workers=2)
def cpu_map(event, ctx):
    work = int(event.get("work", 4_000_000))

    def item(child, value, index, items):
        return child.step(lambda _: burn(work, value), name=f"burn-{index}")

    return ctx.map(list(range(int(event.get("items", 4)))), item, name="burn-all").get_results()


@durable_execution(step_executor="inline")
def approval(event, ctx):
    prepared = ctx.step(lambda _: {"order": event.get("order", 1)}, name="prepare")
    answer = ctx.create_callback(name="approval").result()
    return {"order": prepared["order"], "answer": answer}


@durable_execution(step_executor="inline")
def long_wait(event, ctx):
    ctx.step(lambda _: "started", name="begin")
    ctx.wait(Duration.from_seconds(3600), name="an-hour")
    return "woke up"


_FLAKY = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
)


@durable_execution(step_executor="process", workers=2)
def flaky(event, ctx):
    def sometimes(step):
        if step.attempt == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    ctx.step(lambda _: burn(1_000_000, 1), name="warm-up")
    return ctx.step(sometimes, name="flaky", config=_FLAKY)


@durable_execution(step_executor="inline")
def echo(event, ctx):
    return ctx.step(lambda _: event, name="echo")
