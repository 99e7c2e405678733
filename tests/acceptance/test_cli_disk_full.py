"""A disk that fills up during `durable-mp run --store`: one line, exit 1, nothing lost.

For real: the store lives on a 1 MB tmpfs mounted in a private mount namespace (root and
``unshare -m``), the job's steps return 60 KB each, so the disk fills after a few steps.
The tmpfs then grows and the identical command finishes: no completed step runs again.
The same through the library, with SQLite's ``max_page_count`` as the full disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from durable_mp import durable_execution
from durable_mp.local import LocalRunner, LocalService
from durable_mp.local.store import StoreIOError

JOB = textwrap.dedent(
    """
    import os

    from durable_mp import durable_execution

    MARKERS = os.environ["MARKER_DIR"]


    def body(i):
        def run(step):
            with open(os.path.join(MARKERS, f"step{i}"), "a") as marker:
                marker.write(f"{os.getpid()}\\n")
            return f"{i}:" + "x" * 60_000

        return run


    @durable_execution
    def handler(event, ctx):
        results = [ctx.step(body(i), name=f"step{i}") for i in range(event["steps"])]
        return sum(len(r) for r in results)
    """
)
STEPS = 12
INTEGRITY = (
    "import sqlite3, sys; print(sqlite3.connect(sys.argv[1])"
    ".execute('PRAGMA integrity_check').fetchone()[0])"
)


def test_a_full_disk_stops_the_run_with_one_line_and_the_same_command_resumes(tmp_path):
    job = tmp_path / "job.py"
    job.write_text(JOB)
    disk = tmp_path / "disk"
    disk.mkdir()
    markers = tmp_path / "markers"
    markers.mkdir()
    run = " ".join(
        [
            sys.executable,
            "-m",
            "durable_mp",
            "run",
            f"{job}:handler",
            "--store",
            f"{disk}/runs.db",
            "--name",
            "big",
            "--input",
            f"'{json.dumps({'steps': STEPS})}'",
        ]
    )
    script = textwrap.dedent(
        f"""
        mount -t tmpfs -o size=1m tmpfs {disk} || exit 99
        {run} > {tmp_path}/full.out 2> {tmp_path}/full.err
        echo $? > {tmp_path}/full.status
        ls {markers} > {tmp_path}/full.markers
        {sys.executable} -c "{INTEGRITY}" {disk}/runs.db > {tmp_path}/integrity.txt
        mount -o remount,size=64m {disk}
        {run} > {tmp_path}/resumed.out 2> {tmp_path}/resumed.err
        echo $? > {tmp_path}/resumed.status
        {sys.executable} -m durable_mp history big --store {disk}/runs.db --json > {tmp_path}/history.json
        """
    )
    env = {**os.environ, "MARKER_DIR": str(markers)}
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, (
        "needs root and mount namespaces (unshare -m) to mount a small tmpfs: " + result.stderr
    )
    full_err = (tmp_path / "full.err").read_text()
    assert (tmp_path / "full.status").read_text().strip() == "1", full_err
    assert "Traceback" not in full_err
    last = full_err.strip().splitlines()[-1]
    assert last.startswith("durable-mp run: the store ") and "database or disk is full" in last
    assert "the execution is intact" in last and "run the same command again" in last
    assert (tmp_path / "integrity.txt").read_text().strip() == "ok"
    started_before = len((tmp_path / "full.markers").read_text().split())
    assert 1 < started_before < STEPS  # it was stopped part way

    resumed_err = (tmp_path / "resumed.err").read_text()
    assert (tmp_path / "resumed.status").read_text().strip() == "0", resumed_err
    assert json.loads((tmp_path / "resumed.out").read_text()) == sum(
        len(f"{i}:") + 60_000 for i in range(STEPS)
    )
    runs = [len((markers / f"step{i}").read_text().split()) for i in range(STEPS)]
    assert sum(runs) <= STEPS + 1 and max(runs) <= 2  # at most the step in flight again
    history = json.loads((tmp_path / "history.json").read_text())
    errors = [
        e["InvocationCompletedDetails"]["Error"]["Payload"]["ErrorType"]
        for e in history
        if e["EventType"] == "InvocationCompleted" and e["InvocationCompletedDetails"].get("Error")
    ]
    assert errors and set(errors) <= {"Runner.Interrupted", "Runtime.ExitError"}  # never a failure


@durable_execution(step_executor="inline")
def big_steps(event, ctx):
    return [len(ctx.step(lambda _, i=i: "x" * 60_000, name=f"step{i}")) for i in range(event)]


@pytest.mark.parametrize("steps", [10])
def test_the_library_raises_store_io_error_and_resumes(tmp_path, steps):
    path = tmp_path / "runs.db"
    service = LocalService(path)
    (pages,) = service._store._db.execute("PRAGMA page_count").fetchone()
    service._store._db.execute(f"PRAGMA max_page_count = {pages + 100}")  # ~400 KB more
    runner = LocalRunner(service, {"job": big_steps})
    arn = runner.start("job", steps)
    with pytest.raises(StoreIOError, match="database or disk is full"):
        runner.drive(arn)
    done_before = sum(op.status.value == "SUCCEEDED" for op in service.get_operations(arn)[1:])
    assert 0 < done_before < steps
    service.close()

    again = LocalService(path)  # room again
    record = LocalRunner(again, {"job": big_steps}).drive(arn)
    assert record.status == "SUCCEEDED" and json.loads(record.result) == [60_000] * steps
    assert record.invocation_count == 2
    again.close()
