"""Durable handlers shared by the tests of ``durable_mp.testing`` (module level: picklable)."""

from __future__ import annotations

import json
from pathlib import Path

from durable_mp import (
    CompletionConfig,
    Duration,
    MapConfig,
    RetryStrategyConfig,
    StepConfig,
    create_retry_strategy,
    durable_execution,
)

RETRY_TWICE = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_minutes(5),
            max_delay=Duration.from_minutes(5),
        )
    )
)


def fail_twice(ledger: str) -> str:
    path = Path(ledger)
    attempts = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempts))
    if attempts < 3:
        raise RuntimeError(f"not yet ({attempts})")
    return f"ok after {attempts}"


@durable_execution
def workflow(event, ctx):
    """A step, a retried step, a long wait, a map, a child context and a callback."""
    doubled = ctx.step(lambda _: event["x"] * 2, name="double")
    retried = ctx.step(lambda _: fail_twice(event["ledger"]), name="retried", config=RETRY_TWICE)
    ctx.wait(Duration.from_hours(6), name="overnight")
    squares = ctx.map(
        [1, 2, 3],
        lambda c, item, index, items: c.step(lambda _: item * item, name=f"square-{index}"),
        name="squares",
        config=MapConfig(max_concurrency=2, completion_config=CompletionConfig.all_completed()),
    )
    summary = ctx.run_in_child_context(
        lambda child: child.step(lambda _: sum(squares.get_results()), name="sum"), name="summary"
    )
    callback = ctx.create_callback(name="approval")
    return {
        "doubled": doubled,
        "retried": retried,
        "summary": summary,
        "approval": callback.result(),
    }


@durable_execution
def short_wait(event, ctx):
    ctx.wait(Duration.from_seconds(1), name="one-second")
    return "done"


@durable_execution
def never_called_back(event, ctx):
    return ctx.create_callback(name="forever").result()


@durable_execution
def echo_input(event, ctx):
    return {"event": event}


@durable_execution
def invoker(event, ctx):
    plain = ctx.invoke("plain-target", {"n": event["n"]}, name="call-plain")
    durable = ctx.invoke("durable-target", {"n": event["n"]}, name="call-durable")
    return {"plain": plain, "durable": durable}


def plain_target(event, context):
    return {"plain": event["n"] + 1, "function": context.function_name}


@durable_execution
def durable_target(event, ctx):
    return ctx.step(lambda _: event["n"] * 10, name="times-ten")


def json_text(value) -> str:
    return json.dumps(value)


@durable_execution
def where_steps_run(event, ctx):
    import os

    return {"step": ctx.step(lambda _: os.getpid(), name="pid"), "handler": os.getpid()}
