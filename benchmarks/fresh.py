"""Scenarios that need a fresh interpreter per run: 5 (cold start) and 8 (memory).

Each run is ``python -m benchmarks.child ...`` (see :mod:`benchmarks.child`); contenders
alternate run by run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import workloads
from benchmarks.common import (
    OFFICIAL,
    PROCESS,
    THREAD,
    Row,
    ScenarioResult,
    Settings,
    Target,
    interleave,
)
from benchmarks.contenders import official_available

ROOT = Path(__file__).resolve().parents[1]
_MODES = {PROCESS: "process", THREAD: "thread", OFFICIAL: "official"}


def _contenders(settings: Settings) -> list[str]:
    names = [PROCESS, THREAD]
    if settings.official and official_available():
        names.append(OFFICIAL)
    return names


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.child", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(child: subprocess.Popen[str]) -> dict[str, object]:
    out, err = child.communicate(timeout=600)
    if child.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({child.returncode}): {err[-2000:]}")
    data: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return data


def cold_start(settings: Settings) -> list[ScenarioResult]:
    rounds = settings.rounds(7, 2)
    contenders = _contenders(settings)
    imports: dict[str, list[float]] = {name: [] for name in contenders}

    def run(contender: str) -> float:
        started = time.perf_counter()
        child = _child("coldstart", _MODES[contender])
        assert child.stdout is not None
        line = child.stdout.readline()
        elapsed = time.perf_counter() - started
        if line.strip() != "first-result":
            child.kill()
            raise RuntimeError(f"cold start of {contender}: unexpected output {line!r}")
        timings = _finish(child)
        imports[contender].append(1000 * float(timings["imported_s"]))
        return 1000 * elapsed

    samples = interleave(contenders, rounds, run)
    rows = []
    for name in contenders:
        in_process = sorted(imports[name])[len(imports[name]) // 2]
        rows.append(
            Row(name, samples[name], f"imports done {in_process:.0f} ms after the script began")
        )
    result = ScenarioResult(
        key="cold_start",
        title="5. Cold start: fresh interpreter to the first step's result",
        unit="ms",
        higher_is_better=False,
        rows=rows,
        baseline=OFFICIAL if OFFICIAL in contenders else None,
        parameters={"python": sys.executable},
    )
    result.targets.append(
        Target("process mode cold start", PROCESS, 250.0, False, result.median(PROCESS))
    )
    return [result]


def memory(settings: Settings) -> list[ScenarioResult]:
    rounds = settings.rounds(3, 1)
    items = settings.pick(8, 4)
    seconds = settings.pick(0.25, 0.1)
    iterations = workloads.calibrate(seconds)
    contenders = _contenders(settings)
    parents: dict[str, list[float]] = {name: [] for name in contenders}
    workers: dict[str, list[float]] = {name: [] for name in contenders}
    worker_counts: dict[str, int] = {}

    def run(contender: str) -> float:
        data = _finish(_child("memory", _MODES[contender], str(items), str(iterations)))
        parent = float(data["parent_mb"])
        each = [float(mb) for mb in data["workers_mb"]]
        parents[contender].append(parent)
        workers[contender].append(sum(each))
        worker_counts[contender] = len(each)
        return parent + sum(each)

    totals = interleave(contenders, rounds, run, warmup=False)
    rows = []
    official = f"{OFFICIAL}: parent" if OFFICIAL in contenders else None
    for name in contenders:
        versus = None if name == OFFICIAL else official
        rows.append(Row(f"{name}: parent", parents[name], versus=versus))
        if worker_counts.get(name):
            rows.append(
                Row(f"{name}: workers", workers[name], f"sum over {worker_counts[name]} workers")
            )
            rows.append(Row(f"{name}: total", totals[name], "parent and workers", versus=versus))
    result = ScenarioResult(
        key="memory",
        title=f"8. Memory: peak RSS (VmHWM) during scenario 1 (map, {items} items of ~{seconds:g} s)",
        unit="MB",
        higher_is_better=False,
        rows=rows,
        parameters={"items": items, "seconds_per_item": seconds},
    )
    result.notes.append(
        "RSS counts shared pages (the interpreter, imported modules) once per process"
    )
    return [result]
