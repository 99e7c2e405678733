"""The quickstart handler of the README: steps, a retry, a wait and a child context.

durable-mp run examples/quickstart.py:handler --input '{"name": "World"}'
"""

from __future__ import annotations

from durable_mp import (
    DurableContext,
    Duration,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    create_retry_strategy,
    durable_execution,
    durable_step,
    durable_with_child_context,
)


@durable_step
def greet(step: StepContext, name: str) -> str:
    return f"Hello, {name}!"


@durable_step
def flaky_lookup(step: StepContext, name: str) -> int:
    # Fails on the first attempt to show a durable retry (the delay is a real timer).
    if step.attempt == 1:
        raise ConnectionError("lookup service unavailable")
    return len(name)


@durable_with_child_context
def summarize(ctx: DurableContext, greeting: str, score: int) -> str:
    upper = ctx.step(lambda _: greeting.upper(), name="shout")
    return f"{upper} (score {score})"


@durable_execution
def handler(event: dict[str, str], ctx: DurableContext) -> str:
    name = event.get("name", "World")
    greeting = ctx.step(greet(name))
    score = ctx.step(
        flaky_lookup(name),
        config=StepConfig(
            retry_strategy=create_retry_strategy(
                RetryStrategyConfig(max_attempts=3, initial_delay=Duration.from_seconds(1))
            )
        ),
    )
    ctx.wait(Duration.from_seconds(1), name="cool-down")
    return ctx.run_in_child_context(summarize(greeting, score))
