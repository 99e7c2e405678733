"""Durable handlers for the sandbox tests (loaded by file path, run under awslambdaric)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from durable_mp import DurableContext, Duration, StepConfig, StepSemantics, durable_execution
from durable_mp.workers import usable_cpu_count

ONCE = StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)


def burn(seconds: float) -> int:
    """Spin the CPU for ``seconds`` of this process's CPU time; the worker's pid."""
    end = time.process_time() + seconds
    total = 0
    while time.process_time() < end:
        total += sum(range(2000))
    return os.getpid()


def cpu_quota() -> float | None:
    """The vCPUs this process's cpu cgroup allows, read from inside the sandbox."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if "cpu" in names.split(","):
            group = Path("/sys/fs/cgroup/cpu") / path.lstrip("/")
            quota = int((group / "cpu.cfs_quota_us").read_text())
            period = int((group / "cpu.cfs_period_us").read_text())
            return None if quota < 0 else quota / period
    return None


def _map_pids(ctx: DurableContext, name: str, items: int, seconds: float) -> list[int]:
    batch = ctx.map(
        list(range(items)),
        lambda child, item, index, _: child.step(lambda _: burn(seconds), name=f"{name}-{item}"),
        name=name,
    )
    return [int(pid) for pid in batch.get_results()]


@durable_execution
def cpu_map_and_wait(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """A CPU map, a wait (the sandbox is frozen), another CPU map; timings and pids."""
    items, seconds = int(event.get("items", 4)), float(event.get("seconds", 0.05))
    started = ctx.step(lambda _: time.time(), name="t0")
    first = _map_pids(ctx, "first", items, seconds)
    ended = ctx.step(lambda _: time.time(), name="t1")
    ctx.wait(Duration.from_seconds(int(event.get("wait", 2))), name="rest")
    second = _map_pids(ctx, "second", items, seconds)
    return {
        "first": first,
        "second": second,
        "map_seconds": ended - started,
        "runtime_pid": os.getpid(),
        "cpus": usable_cpu_count(),
        "quota": cpu_quota(),
        "memory": os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
    }


def _allocate(step_ctx: Any, megabytes: int) -> str:
    if step_ctx.attempt == 1:
        hog = bytearray(megabytes * 1024 * 1024)
        for offset in range(0, len(hog), 4096):
            hog[offset] = 1
    return f"attempt {step_ctx.attempt}"


def _stall(step_ctx: Any, seconds: float) -> str:
    if step_ctx.attempt == 1:
        time.sleep(seconds)
    return f"attempt {step_ctx.attempt}"


@durable_execution
def oom_mid_step(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """Its first attempt at ``heavy`` outgrows the sandbox's memory (in a worker)."""
    before = ctx.step(lambda _: "before", name="before")
    heavy = ctx.step(lambda step_ctx: _allocate(step_ctx, int(event["megabytes"])),
                     name="heavy", config=ONCE)
    return {"before": before, "heavy": heavy}


@durable_execution
def timeout_mid_step(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """Its first attempt at ``slow`` outlives the function's timeout."""
    before = ctx.step(lambda _: "before", name="before")
    slow = ctx.step(lambda step_ctx: _stall(step_ctx, float(event["seconds"])),
                    name="slow", config=ONCE)
    return {"before": before, "slow": slow}
