"""A CPU-heavy durable batch job: count the primes below a limit, one step per chunk.

Each chunk is a step whose body runs in a worker process (pure-Python trial division, no
downloads: the input is just numbers). Kill the run at any point and run the same command
again: finished chunks are not recomputed.

    durable-mp run examples/primes.py:handler \
        --input '{"limit": 300000, "chunks": 4}' --store primes.db
"""

from __future__ import annotations

import math

from durable_mp import DurableContext, StepContext, durable_execution, durable_step


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    return all(n % divisor for divisor in range(3, math.isqrt(n) + 1, 2))


@durable_step
def count_primes(step: StepContext, start: int, stop: int) -> dict[str, int]:
    step.logger.info("counting primes in [%d, %d)", start, stop)
    count = sum(1 for n in range(start, stop) if is_prime(n))
    return {"start": start, "stop": stop, "count": count}


@durable_execution
def handler(event: dict[str, int], ctx: DurableContext) -> dict[str, object]:
    limit = int(event.get("limit", 200_000))
    chunks = int(event.get("chunks", 4))
    bounds = [limit * i // chunks for i in range(chunks + 1)]
    parts = [
        ctx.step(count_primes(bounds[i], bounds[i + 1]), name=f"chunk-{i}") for i in range(chunks)
    ]
    total = sum(part["count"] for part in parts)
    ctx.logger.info("%d primes below %d", total, limit)
    return {"limit": limit, "primes": total, "chunks": parts}
