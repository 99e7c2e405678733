"""CPU fan-out: ``ctx.map`` over 8 items of ~0.25 s pure-Python work, process vs thread.

    python -m benchmarks.map_fanout [--repeats 3] [--items 8] [--seconds 0.25]

Both modes run on the in-memory embedded service in the same process, interleaved, after
one warm-up each; the median wall time of each and their ratio are printed and written to
``benchmarks/results/map_fanout.json``. On a machine with N usable cores the ideal ratio
is min(N, items); the worker pool is warm, as in a warm Lambda sandbox.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from durable_mp import MapConfig, durable_execution
from durable_mp.local import LocalRunner, LocalService
from durable_mp.workers import default_pool, usable_cpu_count

RESULTS = Path(__file__).resolve().parent / "results"


def burn(iterations: int) -> int:
    """Pure-Python work that holds the GIL the whole time."""
    total = 0
    for i in range(iterations):
        total = (total + i * i) % 1_000_003
    return total


def calibrate(seconds: float) -> int:
    """Iterations of :func:`burn` that take about ``seconds`` on this machine."""
    probe = 200_000
    started = time.perf_counter()
    burn(probe)
    elapsed = time.perf_counter() - started
    return max(1, int(probe * seconds / elapsed))


def make_handler(executor: str, iterations: int) -> Any:
    @durable_execution(step_executor=executor)
    def handler(event: dict[str, int], ctx: Any) -> list[int]:
        def item(child: Any, value: int, index: int, items: list[int]) -> int:
            return child.step(lambda _: burn(iterations + value), name=f"burn-{index}")

        return ctx.map(
            list(range(event["items"])), item, name="fan-out", config=MapConfig()
        ).get_results()

    return handler


def run_once(executor: str, iterations: int, items: int) -> tuple[float, list[int]]:
    service = LocalService()
    runner = LocalRunner(service, {"fan-out": make_handler(executor, iterations)})
    started = time.perf_counter()
    record = runner.run("fan-out", {"items": items})
    elapsed = time.perf_counter() - started
    assert record.status == "SUCCEEDED", record.error
    return elapsed, json.loads(record.result or "[]")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=0.25, help="CPU time per item")
    args = parser.parse_args(argv)

    iterations = calibrate(args.seconds)
    default_pool()  # a warm pool, as in a warm sandbox
    executors = ("process", "thread")
    times: dict[str, list[float]] = {executor: [] for executor in executors}
    results: dict[str, list[int]] = {}
    for executor in executors:  # warm-up (not timed)
        run_once(executor, iterations, args.items)
    for _ in range(args.repeats):
        for executor in executors:  # interleaved, so both see the same machine
            elapsed, results[executor] = run_once(executor, iterations, args.items)
            times[executor].append(elapsed)
    assert results["process"] == results["thread"], "process and thread mode disagree"
    process, thread = (statistics.median(times[e]) for e in ("process", "thread"))
    report = {
        "scenario": "map over CPU-bound items",
        "items": args.items,
        "seconds_per_item": args.seconds,
        "usable_cpus": usable_cpu_count(),
        "process_median_s": round(process, 3),
        "thread_median_s": round(thread, 3),
        "process_runs_s": [round(t, 3) for t in times["process"]],
        "thread_runs_s": [round(t, 3) for t in times["thread"]],
        "speedup": round(thread / process, 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "map_fanout.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"map over {args.items} items of ~{args.seconds} s CPU: process {process:.2f} s, "
        f"thread {thread:.2f} s -> process mode {thread / process:.2f}x faster "
        f"({usable_cpu_count()} usable CPUs)"
    )
    return report


if __name__ == "__main__":
    main()
