"""Scenario 1 (CPU fan-out) and scenario 7 (scaling with the number of workers).

Eight items of ~0.25 s pure-Python work each, as ``ctx.map`` and as ``ctx.step_async``.
Threads share one GIL, so thread mode and the official SDK (whose map and parallel run on
threads) take about as long as a serial loop; worker processes run the items on every
core. On N usable cores the limit is min(N, items) times faster than serial.
"""

from __future__ import annotations

from typing import Any

from benchmarks import workloads
from benchmarks.common import (
    OFFICIAL,
    PROCESS,
    SERIAL,
    THREAD,
    Row,
    ScenarioResult,
    Settings,
    Target,
    interleave,
    timed,
)
from benchmarks.contenders import official_available, run_durable_mp, run_official


def _usable_cpus() -> int:
    from durable_mp.workers import usable_cpu_count

    return usable_cpu_count()


def _serial(iterations: int, items: int) -> list[int]:
    return [workloads.burn(iterations + i) for i in range(items)]


def fanout(settings: Settings) -> list[ScenarioResult]:
    items = settings.pick(8, 4)
    seconds = settings.pick(0.25, 0.1, 0.08)
    rounds = settings.rounds(5, 2)
    iterations = workloads.calibrate(seconds)
    event = {"items": items, "iterations": iterations}
    expected = _serial(iterations, items)
    cpus = _usable_cpus()
    results = []
    variants = (
        ("map", "ctx.map", workloads.dmp_fanout_map, workloads.official_fanout_map),
        (
            "step_async",
            "ctx.step_async",
            workloads.dmp_fanout_async,
            workloads.official_fanout_parallel,
        ),
    )
    for variant, api, dmp_handler, official_handler in variants:
        handlers: dict[str, Any] = {
            PROCESS: dmp_handler("process"),
            THREAD: dmp_handler("thread"),
        }
        if settings.official and official_available():
            handlers[OFFICIAL] = official_handler()

        def run(contender: str, handlers: dict[str, Any] = handlers) -> float:
            if contender == SERIAL:
                elapsed, value = timed(lambda: _serial(iterations, items))
            elif contender == OFFICIAL:
                elapsed, value = run_official(handlers[contender], event)
            else:
                elapsed, value = run_durable_mp(handlers[contender], event)
            if value != expected:
                raise AssertionError(f"{contender} computed {value!r}, expected {expected!r}")
            return elapsed

        contenders = [SERIAL, *handlers]
        samples = interleave(contenders, rounds, run)
        result = ScenarioResult(
            key=f"cpu_fanout_{variant}",
            title=f"1. CPU fan-out, {api} over {items} items of ~{seconds:g} s",
            unit="s",
            higher_is_better=False,
            rows=[Row(contender, samples[contender]) for contender in contenders],
            baseline=SERIAL,
            parameters={
                "items": items,
                "seconds_per_item": seconds,
                "iterations": iterations,
                "usable_cpus": cpus,
                "limit_vs_serial": min(cpus, items),
            },
        )
        if OFFICIAL in handlers and variant == "step_async":
            result.row(OFFICIAL).note = "ctx.parallel of one-step branches (no step_async)"
        result.targets.append(
            Target(
                "process vs thread",
                f"{PROCESS} vs {THREAD}",
                1.8,
                True,
                result.advantage(PROCESS, THREAD),
            )
        )
        if OFFICIAL in handlers:
            result.targets.append(
                Target(
                    "process vs official",
                    f"{PROCESS} vs {OFFICIAL}",
                    1.8,
                    True,
                    result.advantage(PROCESS, OFFICIAL),
                )
            )
        results.append(result)
    return results


def scaling(settings: Settings) -> list[ScenarioResult]:
    """Process mode with 1, 2 (and all usable) workers: speedup and efficiency vs serial.

    Changing the worker count starts or retires workers, so each count runs as a block
    that begins with an untimed warm-up; blocks go in one order, then in reverse.
    """
    items = settings.pick(8, 4)
    seconds = settings.pick(0.25, 0.1)
    rounds = settings.rounds(4, 2)
    iterations = workloads.calibrate(seconds)
    event = {"items": items, "iterations": iterations}
    expected = _serial(iterations, items)
    cpus = _usable_cpus()
    counts = sorted({1, 2, cpus})
    labels = {count: f"process, workers={count}" for count in counts}
    handlers = {count: workloads.dmp_fanout_map("process", workers=count) for count in counts}
    samples: dict[str, list[float]] = {SERIAL: [], **{labels[c]: [] for c in counts}}
    passes = [counts, list(reversed(counts))]
    per_pass = max(1, rounds // 2)
    for order in passes:
        for count in order:
            run_durable_mp(handlers[count], event)  # warm-up: the pool now has `count`
            for _ in range(per_pass):
                elapsed, value = run_durable_mp(handlers[count], event)
                assert value == expected
                samples[labels[count]].append(elapsed)
        for _ in range(per_pass):
            samples[SERIAL].append(timed(lambda: _serial(iterations, items))[0])
    result = ScenarioResult(
        key="scaling",
        title=f"7. Scaling: ctx.map over {items} items of ~{seconds:g} s, process mode",
        unit="s",
        higher_is_better=False,
        rows=[Row(contender, values) for contender, values in samples.items()],
        baseline=SERIAL,
        parameters={"items": items, "seconds_per_item": seconds, "usable_cpus": cpus},
    )
    serial = result.median(SERIAL)
    efficiency = {}
    for count in counts:
        speedup = serial / result.median(labels[count])
        efficiency[labels[count]] = speedup / min(count, items)
        note = f"speedup {speedup:.2f}x, efficiency {100 * efficiency[labels[count]]:.0f}%"
        if count > cpus:
            note += " (more workers than usable CPUs)"
        result.row(labels[count]).note = note
    result.parameters["efficiency"] = efficiency
    return [result]
