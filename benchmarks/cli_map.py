"""The handler of scenario 5b: a whole ``durable-mp run`` of the CPU map, as a file target.

``durable-mp run benchmarks/cli_map.py:handler --input '{"items": 8, "iterations": N}'``
maps over the items, one CPU-bound step each. Loaded from its path, as a new user runs a
script, so its functions travel to the workers by value.
"""

from __future__ import annotations

from typing import Any

from durable_mp import DurableContext, durable_execution


def burn(iterations: int) -> int:
    """Pure-Python work that holds the GIL the whole time (as ``workloads.burn``)."""
    total = 0
    for i in range(iterations):
        total = (total + i * i) % 1_000_003
    return total


@durable_execution
def handler(event: dict[str, Any], ctx: DurableContext) -> list[int]:
    iterations = int(event["iterations"])

    def item(child: DurableContext, value: int, index: int, items: list[int]) -> int:
        return child.step(lambda _: burn(iterations + value), name=f"burn-{index}")

    return ctx.map(list(range(int(event["items"]))), item, name="fan-out").get_results()
