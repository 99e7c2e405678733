"""Scenario 9: the per-step overhead of scenario 2 on each store of the embedded service.

``LocalService()`` keeps its tables as Python objects (``MemoryStore``);
``LocalService(":memory:")`` runs the same service on SQLite in memory, and
``LocalService(path)`` on a SQLite file (what ``durable-mp run --store`` uses: WAL,
``synchronous=FULL``). Interleaved in one run, so the ratios compare like with like: they
decide whether the in-memory store earns its place beside SQLite (it does while SQLite
in memory is more than 1.3x slower per step).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks import workloads
from benchmarks.common import Row, ScenarioResult, Settings, interleave
from benchmarks.contenders import run_durable_mp

MEMORY_STORE = "in-memory store"
SQLITE_MEMORY = "SQLite :memory:"
SQLITE_FILE = "SQLite file"


def stores(settings: Settings) -> list[ScenarioResult]:
    steps = settings.pick(300, 60, 30)
    rounds = settings.rounds(7, 3, 1)
    executors = ("thread", "process")
    handlers = {executor: workloads.dmp_steps(executor) for executor in executors}
    expected = sum(range(steps))
    with tempfile.TemporaryDirectory(prefix="durable-mp-bench-") as directory:
        paths = iter(Path(directory) / f"run{n}.db" for n in range(10**6))

        def run(contender: str) -> float:
            executor, _, store = contender.partition(", ")
            where = {MEMORY_STORE: None, SQLITE_MEMORY: ":memory:"}.get(store, "file")
            elapsed, value = run_durable_mp(
                handlers[executor.split()[-1]],
                {"steps": steps},
                store=next(paths) if where == "file" else where,
            )
            assert value == expected, (contender, value)
            return 1000 * elapsed / steps

        contenders = [
            f"durable-mp {executor}, {store}"
            for executor in executors
            for store in (MEMORY_STORE, SQLITE_MEMORY, SQLITE_FILE)
        ]
        samples = interleave(contenders, rounds, run)
    rows = []
    for contender in contenders:
        executor, _, store = contender.partition(", ")
        versus = None if store == MEMORY_STORE else f"{executor}, {MEMORY_STORE}"
        rows.append(Row(contender, samples[contender], versus=versus))
    result = ScenarioResult(
        key="store_per_step",
        title=f"9. Per-step overhead by store, {steps} trivial sequential steps",
        unit="ms/step",
        higher_is_better=False,
        rows=rows,
        parameters={"steps": steps},
    )
    result.notes.append(
        "ratios compare each SQLite store with the in-memory store of the same executor"
    )
    return [result]
