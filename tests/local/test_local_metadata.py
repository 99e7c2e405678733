"""durable-mp's metadata beside the history: body runs, step counts, read-only stores."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from local_helpers import Driver, step_retry, step_start, step_succeed

from durable_mp.local import LocalService

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
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.stop_execution("ro")
    finally:
        reader.close()
    with pytest.raises(ValueError, match="path"):
        LocalService(read_only=True)


def test_a_read_only_store_of_an_older_schema_has_no_body_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with LocalService(path) as writer:
        driver = Driver(writer, name="old")
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE body_runs")
    reader = LocalService(path, read_only=True)
    try:
        assert reader.body_runs(driver.arn) == []
    finally:
        reader.close()


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
