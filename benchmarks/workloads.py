"""The handlers the scenarios run, written once for each SDK.

durable-mp handlers take the executor (``process``/``thread``/``inline``) and the worker
count; official-SDK handlers are the same code against ``aws_durable_execution_sdk_python``
(imported lazily, so the suite runs without it). Step bodies call module-level functions,
so in process mode they travel by reference and only small closures are pickled.
"""

from __future__ import annotations

import functools
import time
from typing import Any

PAYLOAD_CHAR = "x"


def burn(iterations: int) -> int:
    """Pure-Python work that holds the GIL the whole time."""
    total = 0
    for i in range(iterations):
        total = (total + i * i) % 1_000_003
    return total


def calibrate(seconds: float) -> int:
    """Iterations of :func:`burn` that take about ``seconds`` on this machine (best of 3)."""
    probe = 200_000
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        burn(probe)
        best = min(best, time.perf_counter() - started)
    return max(1, int(probe * seconds / best))


def make_payload(size: int) -> str:
    return PAYLOAD_CHAR * size


def _burn_step(iterations: int, _step_context: Any) -> int:
    return burn(iterations)


def _trivial_step(value: int, _step_context: Any) -> int:
    return value


def _payload_step(size: int, _step_context: Any) -> str:
    return make_payload(size)


# -- durable-mp -------------------------------------------------------------------------


def dmp_fanout_map(executor: str, workers: int | None = None) -> Any:
    """``ctx.map`` over the items; each item is one CPU-bound step."""
    from durable_mp import durable_execution

    @durable_execution(step_executor=executor, workers=workers)
    def handler(event: dict[str, Any], ctx: Any) -> list[int]:
        iterations = event["iterations"]

        def item(child: Any, value: int, index: int, items: list[int]) -> int:
            return child.step(
                functools.partial(_burn_step, iterations + value), name=f"burn-{index}"
            )

        return ctx.map(list(range(event["items"])), item, name="fan-out").get_results()

    return handler


def dmp_fanout_async(executor: str, workers: int | None = None) -> Any:
    """``ctx.step_async`` for every item, then every ``result()``."""
    from durable_mp import durable_execution

    @durable_execution(step_executor=executor, workers=workers)
    def handler(event: dict[str, Any], ctx: Any) -> list[int]:
        iterations = event["iterations"]
        futures = [
            ctx.step_async(functools.partial(_burn_step, iterations + i), name=f"burn-{i}")
            for i in range(event["items"])
        ]
        return [future.result() for future in futures]

    return handler


def dmp_steps(executor: str, checkpointing: str = "synchronous") -> Any:
    """``event["steps"]`` trivial sequential steps."""
    from durable_mp import durable_execution

    @durable_execution(step_executor=executor, checkpointing=checkpointing)
    def handler(event: dict[str, Any], ctx: Any) -> int:
        total = 0
        for i in range(event["steps"]):
            total += ctx.step(functools.partial(_trivial_step, i), name="trivial")
        return total

    return handler


def dmp_trivial_map(executor: str) -> Any:
    """``ctx.map`` over ``event["items"]`` items, each one trivial step; returns the sum."""
    from durable_mp import durable_execution

    @durable_execution(step_executor=executor)
    def handler(event: dict[str, Any], ctx: Any) -> int:
        def item(child: Any, value: int, index: int, items: list[int]) -> int:
            return child.step(functools.partial(_trivial_step, value), name="trivial")

        return sum(ctx.map(list(range(event["items"])), item, name="map").get_results())

    return handler


def dmp_payload(executor: str, serdes: Any = None) -> Any:
    """One step returning ``event["size"]`` bytes of text; returns its length."""
    from durable_mp import StepConfig, durable_execution

    @durable_execution(step_executor=executor)
    def handler(event: dict[str, Any], ctx: Any) -> int:
        value = ctx.step(
            functools.partial(_payload_step, event["size"]),
            name="payload",
            config=StepConfig(serdes=serdes),
        )
        return len(value)

    return handler


# -- the official SDK -------------------------------------------------------------------


def official_fanout_map() -> Any:
    from aws_durable_execution_sdk_python.execution import durable_execution

    @durable_execution
    def handler(event: dict[str, Any], ctx: Any) -> list[int]:
        iterations = event["iterations"]

        def item(child: Any, value: int, index: int, items: list[int]) -> int:
            return child.step(
                functools.partial(_burn_step, iterations + value), name=f"burn-{index}"
            )

        return ctx.map(list(range(event["items"])), item, name="fan-out").get_results()

    return handler


def official_fanout_parallel() -> Any:
    """The official SDK has no ``step_async``: its concurrent steps are ``parallel``
    branches, one step each."""
    from aws_durable_execution_sdk_python.execution import durable_execution

    def branch(iterations: int, index: int, ctx: Any) -> int:
        return ctx.step(functools.partial(_burn_step, iterations), name=f"burn-{index}")

    @durable_execution
    def handler(event: dict[str, Any], ctx: Any) -> list[int]:
        iterations = event["iterations"]
        branches = [functools.partial(branch, iterations + i, i) for i in range(event["items"])]
        return ctx.parallel(branches, name="fan-out").get_results()

    return handler


def official_trivial_map() -> Any:
    from aws_durable_execution_sdk_python.execution import durable_execution

    @durable_execution
    def handler(event: dict[str, Any], ctx: Any) -> int:
        def item(child: Any, value: int, index: int, items: list[int]) -> int:
            return child.step(functools.partial(_trivial_step, value), name="trivial")

        return sum(ctx.map(list(range(event["items"])), item, name="map").get_results())

    return handler


def official_steps() -> Any:
    from aws_durable_execution_sdk_python.execution import durable_execution

    @durable_execution
    def handler(event: dict[str, Any], ctx: Any) -> int:
        total = 0
        for i in range(event["steps"]):
            total += ctx.step(functools.partial(_trivial_step, i), name="trivial")
        return total

    return handler


def official_payload(serdes: Any = None) -> Any:
    from aws_durable_execution_sdk_python.config import StepConfig
    from aws_durable_execution_sdk_python.execution import durable_execution

    @durable_execution
    def handler(event: dict[str, Any], ctx: Any) -> int:
        value = ctx.step(
            functools.partial(_payload_step, event["size"]),
            name="payload",
            config=StepConfig(serdes=serdes),
        )
        return len(value)

    return handler
