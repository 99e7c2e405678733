"""A CPU-heavy durable batch job: count the primes below a limit, chunks in parallel.

Each chunk is a step started with ``ctx.step_async``, so the chunks run side by side, each
in its own worker process (pure-Python trial division, no downloads: the input is just
numbers). The job reports the speedup it got: the CPU time its chunks used, one after
another, over the wall time the fan-out took (about the number of cores on an idle
machine; 1.0 would mean no parallelism at all). Kill the run at any point and run the same
command again: finished chunks are not recomputed.

    durable-mp run examples/primes.py:handler \\
        --input '{"limit": 2000000, "chunks": 8}' --store primes.db
"""

from __future__ import annotations

import math
import time

from durable_mp import DurableContext, StepConfig, StepContext, durable_execution, durable_step

IN_PARENT = StepConfig(executor="inline")  # reading the clock needs no worker


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    return all(n % divisor for divisor in range(3, math.isqrt(n) + 1, 2))


@durable_step
def count_primes(step: StepContext, start: int, stop: int) -> dict[str, float]:
    step.logger.info("counting primes in [%d, %d)", start, stop)
    cpu_started = time.process_time()
    count = sum(1 for n in range(start, stop) if is_prime(n))
    cpu = time.process_time() - cpu_started
    return {"start": start, "stop": stop, "count": count, "cpu_seconds": round(cpu, 3)}


@durable_step
def clock(step: StepContext) -> float:
    """The time now, checkpointed: a replay sees the first run's time."""
    return time.time()


@durable_execution
def handler(event: dict[str, int], ctx: DurableContext) -> dict[str, object]:
    limit = int(event.get("limit", 2_000_000))
    chunks = int(event.get("chunks", 8))
    bounds = [limit * i // chunks for i in range(chunks + 1)]
    started = ctx.step(clock(), name="fan-out started", config=IN_PARENT)
    futures = [
        ctx.step_async(count_primes(bounds[i], bounds[i + 1]), name=f"chunk-{i}")
        for i in range(chunks)
    ]
    parts = [future.result() for future in futures]
    ended = ctx.step(clock(), name="fan-out ended", config=IN_PARENT)
    total = sum(int(part["count"]) for part in parts)
    serial_cpu = sum(part["cpu_seconds"] for part in parts)
    wall = max(ended - started, 1e-6)
    speedup = round(serial_cpu / wall, 2)
    ctx.logger.info(
        "%d primes below %d; the chunks used %.2f s of CPU in %.2f s: %.2fx",
        total,
        limit,
        serial_cpu,
        wall,
        speedup,
    )
    return {
        "limit": limit,
        "primes": total,
        "chunks": parts,
        "serial_cpu_seconds": round(serial_cpu, 3),
        "wall_seconds": round(wall, 3),
        "speedup": speedup,
    }
