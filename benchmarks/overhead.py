"""Scenario 2 (per-step overhead) and scenario 3 (checkpoint latency).

Both run trivial sequential steps, so they measure the SDK and the service, not the work.
Per-step overhead is the whole execution's wall time over the number of steps (starting
the execution and its invocation included). With 20 ms added to every checkpoint call,
one call per step caps a sequential handler at 50 steps/s.
"""

from __future__ import annotations

from typing import Any

from benchmarks import workloads
from benchmarks.common import (
    INLINE,
    OFFICIAL,
    PIPELINED,
    PROCESS,
    THREAD,
    Row,
    ScenarioResult,
    Settings,
    Target,
    interleave,
)
from benchmarks.contenders import official_available, run_durable_mp, run_official

_EXECUTORS = {PROCESS: "process", THREAD: "thread", INLINE: "inline"}


def _handlers(settings: Settings, contenders: tuple[str, ...]) -> dict[str, Any]:
    handlers: dict[str, Any] = {
        name: workloads.dmp_steps("process", "pipelined")
        if name == PIPELINED
        else workloads.dmp_steps(_EXECUTORS[name])
        for name in contenders
    }
    if settings.official and official_available():
        handlers[OFFICIAL] = workloads.official_steps()
    return handlers


def per_step(settings: Settings) -> list[ScenarioResult]:
    steps = settings.pick(300, 60, 30)
    rounds = settings.rounds(7, 3, 1)
    handlers = _handlers(settings, (PROCESS, THREAD, INLINE))
    event = {"steps": steps}
    expected = sum(range(steps))

    def run(contender: str) -> float:
        runner = run_official if contender == OFFICIAL else run_durable_mp
        elapsed, value = runner(handlers[contender], event)
        assert value == expected, (contender, value)
        return 1000 * elapsed / steps

    samples = interleave(list(handlers), rounds, run)
    result = ScenarioResult(
        key="per_step_overhead",
        title=f"2. Per-step overhead, {steps} trivial sequential steps",
        unit="ms/step",
        higher_is_better=False,
        rows=[Row(contender, samples[contender]) for contender in handlers],
        baseline=OFFICIAL if OFFICIAL in handlers else None,
        parameters={"steps": steps},
    )
    result.row(INLINE).note = "no hop at all (for reference)"
    result.targets += [
        Target("thread mode ms/step", THREAD, 0.3, False, result.median(THREAD)),
        Target("process mode ms/step", PROCESS, 0.3, False, result.median(PROCESS)),
    ]
    return [result]


def checkpoint_latency(settings: Settings) -> list[ScenarioResult]:
    steps = settings.pick(60, 15, 5)
    latency = 0.020
    rounds = settings.rounds(5, 2, 1)
    handlers = _handlers(settings, (PROCESS, THREAD, PIPELINED))
    event = {"steps": steps}
    expected = sum(range(steps))

    def run(contender: str) -> float:
        runner = run_official if contender == OFFICIAL else run_durable_mp
        elapsed, value = runner(handlers[contender], event, latency=latency)
        assert value == expected, (contender, value)
        return steps / elapsed

    samples = interleave(list(handlers), rounds, run)
    result = ScenarioResult(
        key="checkpoint_latency",
        title=f"3. Checkpoint latency, {steps} sequential steps, +{latency * 1000:g} ms per checkpoint call",
        unit="steps/s",
        higher_is_better=True,
        rows=[Row(contender, samples[contender]) for contender in handlers],
        baseline=OFFICIAL if OFFICIAL in handlers else None,
        parameters={"steps": steps, "latency_s": latency, "limit_steps_per_s": 1 / latency},
    )
    for contender in (PROCESS, THREAD):
        result.targets.append(
            Target(
                f"{contender.split()[-1]} mode steps/s",
                contender,
                48.0,
                True,
                result.median(contender),
            )
        )
    result.row(PIPELINED).note = "opt-in: SUCCEED queued, not awaited"
    result.targets.append(
        Target(
            "pipelined vs synchronous process mode (x)",
            f"{PIPELINED} vs {PROCESS}",
            5.0,
            True,
            result.median(PIPELINED) / result.median(PROCESS),
        )
    )
    return [result]
