"""Scenario 6: large step results, through the pipe and through the checkpoint path.

Pipe: a pool job whose function builds N MB of text and JSON-serializes it in the
worker (what a process step does with its result), back to the parent; against the raw
Pipe floor. Checkpoint path: a whole execution whose one step returns N MB. The service
takes at most 6 MB per operation payload, so above that the step uses
``FileSystemSerDes`` (the official SDK's own ``FileSystemSerDes`` on its side): the value
goes to a file and the checkpoint holds a pointer. MB/s = N MB / wall time.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from typing import Any

import cloudpickle

from benchmarks import workloads
from benchmarks.common import OFFICIAL, PROCESS, THREAD, Row, ScenarioResult, Settings, interleave
from benchmarks.contenders import official_available, run_durable_mp, run_official
from benchmarks.dispatch import _RawWorker

MB = 1024 * 1024
INLINE_LIMIT_MB = 6


def serialized_payload(size: int) -> str:
    return json.dumps(workloads.make_payload(size))


def _pipe(settings: Settings, sizes: list[int]) -> ScenarioResult:
    from durable_mp.workers import Job, default_pool

    rounds = settings.rounds(5, 2)
    pool = default_pool()
    raw = _RawWorker()

    def run(contender: str) -> float:
        kind, size_mb = contender.rsplit(", ", 1)
        size = int(size_mb.split()[0]) * MB
        started = time.perf_counter()
        if kind == "pool":
            result = pool.submit(
                Job(cloudpickle.dumps((serialized_payload, (size,))), "payload")
            ).result()
            assert result.ok and len(result.value) == size + 2, result.error
        else:
            raw.conn.send_bytes(cloudpickle.dumps((serialized_payload, (size,))))
            assert len(cloudpickle.loads(raw.conn.recv_bytes())) == size + 2
        return size / MB / (time.perf_counter() - started)

    contenders = [f"{kind}, {size} MB" for size in sizes for kind in ("pool", "raw Pipe")]
    try:
        samples = interleave(contenders, rounds, run)
    finally:
        raw.close()
    rows = [
        Row(
            name.replace("pool", PROCESS + " pool"),
            samples[name],
            "floor: one Pipe, caller reads" if name.startswith("raw") else "",
            versus=None if name.startswith("raw") else name.replace("pool", "raw Pipe"),
        )
        for name in contenders
    ]
    return ScenarioResult(
        key="large_results_pipe",
        title="6a. Large results through the pipe (worker builds and JSON-encodes N MB)",
        unit="MB/s",
        higher_is_better=True,
        rows=rows,
        parameters={"sizes_mb": sizes},
    )


def _checkpoint_path(settings: Settings, sizes: list[int]) -> ScenarioResult:
    from durable_mp.filesystem_serdes import FileSystemSerDes

    rounds = settings.rounds(3, 1)
    directory = tempfile.mkdtemp(prefix="durable-mp-bench-")
    with_official = settings.official and official_available()
    handlers: dict[str, tuple[Any, Any, int]] = {}
    for size in sizes:
        if size <= INLINE_LIMIT_MB:
            for contender, executor in ((PROCESS, "process"), (THREAD, "thread")):
                handlers[f"{contender}, {size} MB inline"] = (
                    workloads.dmp_payload(executor),
                    run_durable_mp,
                    size,
                )
    for size in sizes:
        suffix = f"{size} MB, filesystem serdes"
        ours = FileSystemSerDes(directory)
        for contender, executor in ((PROCESS, "process"), (THREAD, "thread")):
            handlers[f"{contender}, {suffix}"] = (
                workloads.dmp_payload(executor, ours),
                run_durable_mp,
                size,
            )
        if with_official:
            from aws_durable_execution_sdk_python.filesystem_serdes import (
                FileSystemSerDes as OfficialFileSystemSerDes,
            )

            handlers[f"{OFFICIAL}, {suffix}"] = (
                workloads.official_payload(OfficialFileSystemSerDes(directory)),
                run_official,
                size,
            )

    def run(contender: str) -> float:
        handler, runner, size_mb = handlers[contender]
        elapsed, value = runner(handler, {"size": size_mb * MB})
        assert value == size_mb * MB, (contender, value)
        return size_mb / elapsed

    try:
        samples = interleave(list(handlers), rounds, run)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result = ScenarioResult(
        key="large_results_checkpoint",
        title="6b. Large results through the checkpoint path (one step returning N MB, whole execution)",
        unit="MB/s",
        higher_is_better=True,
        rows=[Row(name, samples[name], versus=_official_twin(name, handlers)) for name in handlers],
        parameters={"sizes_mb": sizes, "inline_limit_mb": INLINE_LIMIT_MB},
    )
    result.notes += [
        f"Above {INLINE_LIMIT_MB} MB the service refuses the payload (PayloadTooLargeError), so "
        "those sizes need FileSystemSerDes: the value goes to an fsync'd file, the checkpoint "
        "holds its path; durable-mp then reads it back to return what replay will return.",
        "The official SDK is left out of the inline rows: its checkpoint batcher never sends "
        "an update larger than its 750 KB batch limit, so a 1 MB inline result hangs the step.",
    ]
    return result


def _official_twin(name: str, names: dict[str, Any]) -> str | None:
    """The official SDK's row for the same size and serdes, to compare a durable-mp row with."""
    if name.startswith(OFFICIAL):
        return None
    twin = OFFICIAL + name[name.index(",") :]
    return twin if twin in names else None


def large_results(settings: Settings) -> list[ScenarioResult]:
    sizes = settings.pick([1, 10, 50], [1, 10])
    return [_pipe(settings, sizes), _checkpoint_path(settings, sizes)]
