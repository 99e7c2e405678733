"""durable-mp's metadata beside the history: body runs, step counts, read-only stores.

Owners (leases) are tested in ``test_local_ownership.py``; the schema version that added
``body_runs`` in ``test_local_schema.py``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from local_helpers import Driver, step_retry, step_start, step_succeed

from durable_mp.lambda_service import Operation, OperationStatus, OperationType
from durable_mp.local import LocalService, StoreIOError, StoreReadOnlyError
from durable_mp.local.memory_store import MemoryStore
from durable_mp.local.sqlite_store import SqliteStore
from durable_mp.local.store import BodyRunRow, StoredOperation

_STATUSES = [OperationStatus.STARTED, OperationStatus.PENDING, OperationStatus.SUCCEEDED]

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class Run:
    executor: str = "process"
    pid: int = 4242
    thread: str = "MainThread"
    started_at: float = 100.0
    ended_at: float = 101.5


def test_a_body_run_is_saved_with_the_next_change_and_never_enters_the_history(
    service: LocalService,
) -> None:
    driver = Driver(service, name="runs")
    driver.send(step_start("1", name="work"))
    service.record_body_run(driver.arn, "1", 1, Run())
    assert service.body_runs(driver.arn) == []  # kept until the attempt's own checkpoint
    history_before = driver.event_types()
    driver.send(step_succeed("1"))
    [row] = service.body_runs(driver.arn)
    assert (row.op_id, row.attempt, row.executor, row.pid, row.thread) == (
        "1",
        1,
        "process",
        4242,
        "MainThread",
    )
    assert (row.started_at, row.ended_at) == (100.0, 101.5)
    assert driver.event_types() == [*history_before, "StepSucceeded"]
    for event in service.get_history_json(driver.arn):
        assert "4242" not in str(event)


def test_body_runs_of_every_attempt_in_start_order(service: LocalService) -> None:
    driver = Driver(service, name="attempts")
    driver.send(step_start("1"))
    service.record_body_run(driver.arn, "1", 1, Run(pid=1, started_at=5.0, ended_at=6.0))
    driver.send(step_retry("1", delay=1))
    service.record_body_run(driver.arn, "1", 2, Run(pid=2, started_at=8.0, ended_at=9.0))
    service.record_body_run(driver.arn, "1", 2, Run(pid=3, started_at=8.0, ended_at=9.5))
    driver.finish()  # completing the invocation is a change too
    runs = service.body_runs(driver.arn)
    assert [(run.attempt, run.pid) for run in runs] == [(1, 1), (2, 3)]  # a repeat replaces


def test_step_counts_by_status(service: LocalService) -> None:
    driver = Driver(service, name="counts")
    driver.send(step_start("1"), step_succeed("1"), step_start("2"), step_start("3"))
    driver.send(step_retry("3"))
    assert service.step_counts()[driver.arn] == {"SUCCEEDED": 1, "STARTED": 1, "PENDING": 1}


def test_a_read_only_store_reads_and_refuses_changes(store_path: Path) -> None:
    with LocalService(store_path) as writer:
        driver = Driver(writer, name="ro")
        driver.send(step_start("1"), step_succeed("1"))
    reader = LocalService(store_path, read_only=True)
    try:
        assert reader.read_only
        assert [record.name for record in reader.list_executions()] == ["ro"]
        assert reader.step_counts()[driver.arn] == {"SUCCEEDED": 1}
        with pytest.raises(StoreReadOnlyError):
            reader.stop_execution("ro")
    finally:
        reader.close()
    with pytest.raises(ValueError, match="path"):
        LocalService(read_only=True)


def test_data_version_moves_when_another_process_commits(store_path: Path) -> None:
    service = LocalService(store_path)
    try:
        before = service.data_version()
        assert service.data_version() == before
        subprocess.run(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    f"""
                    from durable_mp.local import LocalService
                    LocalService({str(store_path)!r}).start_execution("fn", None, name="other")
                    """
                ),
            ],
            check=True,
        )
        assert service.data_version() != before
    finally:
        service.close()


@pytest.mark.parametrize("executor", ["process", "thread", "inline"])
def test_the_engine_records_where_each_attempt_ran(tmp_path: Path, executor: str) -> None:
    import os
    import time

    from durable_mp import durable_execution
    from durable_mp.local import LocalRunner

    @durable_execution(step_executor=executor, workers=1)
    def handler(event, ctx):  # type: ignore[no-untyped-def]
        return [ctx.step(lambda _, i=i: i, name=f"s{i}") for i in range(2)]

    before = time.time()
    with LocalService(tmp_path / "runs.db") as service:
        record = LocalRunner(service, {"job": handler}).run("job", {})
        runs = service.body_runs(record.arn)
        ops = {op.name: op.operation_id for op in service.get_operations(record.arn)}
    assert [(run.op_id, run.attempt, run.executor) for run in runs] == [
        (ops["s0"], 1, executor),
        (ops["s1"], 1, executor),
    ]
    for run in runs:
        assert before <= run.started_at <= run.ended_at <= time.time()
        assert (run.pid != os.getpid()) == (executor == "process")
    if executor == "thread":
        assert all(run.thread.startswith("durable-mp-step") for run in runs)


def test_a_body_run_outlives_a_change_that_rolls_back(store_path: Path) -> None:
    """The run is written into the change's transaction; if that one fails at its commit
    (here a full disk: SQLite's ``max_page_count``), the next change saves it."""
    service = LocalService(store_path)
    try:
        driver = Driver(service, name="kept")
        driver.send(step_start("1"))
        service.record_body_run(driver.arn, "1", 1, Run())
        db = service._store._db  # type: ignore[attr-defined]
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreIOError, match="full"):
            driver.send(step_succeed("1", payload='"' + "x" * 100_000 + '"'))
        db.execute("PRAGMA max_page_count = 1073741823")
        assert service.body_runs(driver.arn) == []
        driver.send(step_succeed("1"))
        assert [(run.op_id, run.pid) for run in service.body_runs(driver.arn)] == [("1", 4242)]
    finally:
        service.close()


body_run_writes = st.lists(
    st.tuples(
        st.sampled_from(["arn", "other"]),
        st.sampled_from(["a", "b", "c"]),  # op id
        st.integers(1, 3),  # attempt
        st.integers(0, 5),  # pid, and when it started
        st.booleans(),  # roll this transaction back afterwards
    ),
    max_size=25,
)


@settings(max_examples=100, deadline=None)
@given(body_run_writes, st.lists(st.sampled_from(_STATUSES), min_size=3, max_size=3))
def test_the_memory_store_keeps_body_runs_and_counts_as_sqlite_does(
    history: list[tuple[str, str, int, int, bool]], statuses: list[OperationStatus]
) -> None:
    """Same answers from both stores, rolled-back transactions included (the memory
    store undoes each put with one entry of its undo log)."""
    answers = []
    for store in (SqliteStore(":memory:"), MemoryStore()):
        with store.transaction() as tx:
            for position, (op_id, status) in enumerate(zip("abc", statuses, strict=True)):
                kind = OperationType.STEP if op_id != "c" else OperationType.WAIT
                stored = StoredOperation(Operation(op_id, kind, status), position, 1)
                tx.put_operation("arn", stored, None)
        for arn, op_id, attempt, number, roll_back in history:
            try:
                with store.transaction() as tx:
                    row = BodyRunRow(arn, op_id, attempt, "process", number, "T", number, 9.0)
                    tx.put_body_runs([row])
                    if roll_back:
                        raise RuntimeError
            except RuntimeError:
                pass
        with store.transaction(write=False) as tx:
            runs = {arn: tx.body_runs(arn) for arn in ("arn", "other")}
            answers.append((runs, tx.operation_counts("STEP"), tx.operation_counts("WAIT")))
        store.close()
    for runs in (answers[0][0], answers[1][0]):  # equal start times: either order
        for arn, rows in runs.items():
            assert [row.started_at for row in rows] == sorted(row.started_at for row in rows)
            runs[arn] = sorted(rows, key=lambda row: (row.started_at, row.op_id, row.attempt))
    assert answers[0] == answers[1]
