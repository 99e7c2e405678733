"""Scenarios that need a fresh interpreter per run: 5 (cold start) and 8 (memory).

Each run is ``python -m benchmarks.child ...`` (see :mod:`benchmarks.child`), or for 5b a
whole ``durable-mp run`` of the CPU map; contenders alternate run by run.
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


def _finish(child: subprocess.Popen[str], *, after_a_line: bool = False) -> dict[str, object]:
    if after_a_line:
        # communicate() reads the raw pipe: what readline() already buffered would be lost.
        assert child.stdout is not None and child.stderr is not None
        out, err = child.stdout.read(), child.stderr.read()
        child.wait(timeout=600)
    else:
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
        timings = _finish(child, after_a_line=True)
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
        parameters={
            "python": _shown(sys.executable),
            "bytecode_cache_written": not sys.dont_write_bytecode,
        },
    )
    if sys.dont_write_bytecode:
        result.notes.append(
            "PYTHONDONTWRITEBYTECODE is set: fresh interpreters (and the fork server) compile"
            " every module that has no cached bytecode yet, unlike a user's second run"
        )
    result.targets += [
        Target("process mode cold start", PROCESS, 250.0, False, result.median(PROCESS)),
        Target(
            "process vs thread cold start (x)",
            f"{PROCESS} vs {THREAD}",
            1.2,
            False,
            result.median(PROCESS) / result.median(THREAD),
        ),
    ]
    return [result, whole_run(settings)]


def whole_run(settings: Settings) -> ScenarioResult:
    """5b: ``durable-mp run`` of the CPU map (a file target), from the command to its exit."""
    rounds = settings.rounds(5, 2)
    items = settings.pick(8, 4, 2)
    seconds = settings.pick(0.28, 0.1, 0.02)
    iterations = workloads.calibrate(seconds)
    contenders = [PROCESS, THREAD]
    event = json.dumps({"items": items, "iterations": iterations})
    target = f"{ROOT / 'benchmarks' / 'cli_map.py'}:handler"

    def run(contender: str) -> float:
        command = [sys.executable, "-m", "durable_mp", "run", target, "--input", event]
        started = time.perf_counter()
        done = subprocess.run(
            [*command, "--executor", _MODES[contender]],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"durable-mp run ({contender}) failed: {done.stderr[-2000:]}")
        return elapsed

    samples = interleave(contenders, rounds, run)
    result = ScenarioResult(
        key="whole_run",
        title=f"5b. Whole `durable-mp run` of the CPU map ({items} items of ~{seconds:g} s), "
        "command to exit",
        unit="s",
        higher_is_better=False,
        rows=[Row(name, samples[name]) for name in contenders],
        baseline=THREAD,
        parameters={"items": items, "seconds_per_item": seconds, "iterations": iterations},
    )
    result.targets.append(
        Target(
            "process vs thread",
            f"{PROCESS} vs {THREAD}",
            1.8,
            True,
            result.advantage(PROCESS, THREAD),
        )
    )
    return result


def memory(settings: Settings) -> list[ScenarioResult]:
    rounds = settings.rounds(3, 1)
    items = settings.pick(8, 4, 2)
    seconds = settings.pick(0.25, 0.1, 0.02)
    iterations = workloads.calibrate(seconds)
    contenders = _contenders(settings)
    parents: dict[str, list[float]] = {name: [] for name in contenders}
    workers: dict[str, list[float]] = {name: [] for name in contenders}
    worker_counts: dict[str, int] = {}
    pss: dict[str, list[float]] = {name: [] for name in contenders}
    pool_pss: list[float] = []
    fresh_private: list[float] = []
    used_private: list[float] = []

    def run(contender: str) -> float:
        data = _finish(_child("memory", _MODES[contender], str(items), str(iterations)))
        parent = float(data["parent_mb"])
        each = [float(mb) for mb in data["workers_mb"]]
        parents[contender].append(parent)
        workers[contender].append(sum(each))
        worker_counts[contender] = len(each)
        in_pool = float(data.get("pool_pss_mb", 0.0))
        pss[contender].append(float(data["parent_pss_mb"]) + in_pool)
        if contender == PROCESS:
            pool_pss.append(in_pool)
            fresh_private.append(max(data["fresh_private_mb"], default=0.0))
            used_private.append(max(data["used_private_mb"], default=0.0))
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
    privates = (fresh_private, used_private)
    return [result, _pss(contenders, pss, pool_pss, privates, items, seconds)]


def _pss(
    contenders: list[str],
    pss: dict[str, list[float]],
    pool_pss: list[float],
    privates: tuple[list[float], list[float]],
    items: int,
    seconds: float,
) -> ScenarioResult:
    """8b: PSS after the map, and a worker's private memory before it ran user code."""
    fresh = f"{PROCESS}: a worker's private memory before user code"
    fresh_private, used_private = privates
    rows = [
        Row(f"{PROCESS}: pool (workers and fork server)", pool_pss, "PSS after the map"),
        *(
            Row(f"{name}: total", pss[name], "PSS of every process")
            for name in contenders
            if name != OFFICIAL
        ),
        Row(
            fresh, fresh_private, "the largest of the pool's idle workers (Private_Clean + _Dirty)"
        ),
        Row(f"{PROCESS}: a worker's private memory after the map", used_private, "the largest"),
    ]
    result = ScenarioResult(
        key="memory_pss",
        title=f"8b. Memory: PSS (shared pages counted once) after the map ({items} items of "
        f"~{seconds:g} s)",
        unit="MB",
        higher_is_better=False,
        rows=rows,
        parameters={"items": items, "seconds_per_item": seconds},
    )
    result.targets.append(
        Target("worker private memory before user code", fresh, 10.0, False, result.median(fresh))
    )
    result.notes.append("PSS divides each shared page among the processes that map it")
    return result


def _shown(path: str) -> str:
    """``path`` relative to the working directory where it is below it: results are
    committed, and must not carry this machine's directories."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return Path(path).name
