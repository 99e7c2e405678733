"""The SQLite store: durability across SIGKILL, private files, concurrency, control plane."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from local_helpers import Driver, step_start, step_succeed
from local_official_sdk import official_handler

from durable_mp.lambda_service import OperationStatus, OperationType
from durable_mp.local import (
    ExecutionNameConflictError,
    ExecutionNotFoundError,
    LocalRunner,
    LocalService,
    history_to_json,
)

CHECKPOINT_LOOP = textwrap.dedent(
    """
    import sys
    from durable_mp.lambda_service import OperationUpdate
    from durable_mp.local import LocalService

    service = LocalService(sys.argv[1])
    record = service.start_execution("fn", '"x"', name=sys.argv[2])
    invocation = service.begin_invocation(record.arn)
    token = invocation.event.checkpoint_token
    print("ARN", record.arn, flush=True)
    number = 0
    while True:
        number += 1
        op_id = f"op{number}"
        start = {"Id": op_id, "Type": "STEP", "Action": "START", "SubType": "Step"}
        done = {"Id": op_id, "Type": "STEP", "Action": "SUCCEED", "Payload": str(number)}
        output = service.checkpoint(
            record.arn, token, [OperationUpdate.from_dict(start), OperationUpdate.from_dict(done)], None
        )
        token = output.checkpoint_token
        print("ACK", number, flush=True)
    """
)


def kill_mid_checkpoints(store_path: Path, script: Path, name: str, acks_before_kill: int) -> tuple[str, int]:
    """Run the checkpoint loop, SIGKILL it after some acknowledgements; (arn, last ack)."""
    child = subprocess.Popen(
        [sys.executable, str(script), str(store_path), name],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    arn = child.stdout.readline().split()[1]
    acknowledged = 0
    while acknowledged < acks_before_kill:
        line = child.stdout.readline()
        assert line.startswith("ACK"), line
        acknowledged = int(line.split()[1])
    os.kill(child.pid, signal.SIGKILL)
    for line in child.stdout:  # acknowledged before it died, not yet read
        acknowledged = int(line.split()[1])
    child.wait()
    return arn, acknowledged


def test_sigkill_never_loses_an_acknowledged_checkpoint(store_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "checkpoint_loop.py"
    script.write_text(CHECKPOINT_LOOP)
    rng = random.Random(7)
    runs = [kill_mid_checkpoints(store_path, script, f"run{n}", rng.randint(5, 120)) for n in range(3)]

    with sqlite3.connect(store_path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    service = LocalService(store_path)
    for arn, acknowledged in runs:
        operations = service.get_operations(arn)[1:]
        ids = [op.operation_id for op in operations]
        assert ids[:acknowledged] == [f"op{n}" for n in range(1, acknowledged + 1)]
        assert ids == [f"op{n}" for n in range(1, len(ids) + 1)]  # nothing skipped
        # Never half a batch: every stored step is complete, with both its events.
        assert all(op.status is OperationStatus.SUCCEEDED for op in operations)
        history = service.get_history(arn)
        assert [e["EventId"] for e in history] == list(range(1, len(history) + 1))
        assert [e["EventType"] for e in history[1:]] == ["StepStarted", "StepSucceeded"] * len(ids)
        # The interrupted invocation is closed as interrupted, and the execution goes on.
        assert service.recover_interrupted_invocation(arn)
        assert service.get_history(arn)[-1]["InvocationCompletedDetails"]["Error"]["Payload"][
            "ErrorType"
        ] == "Runtime.ExitError"
        invocation = service.begin_invocation(arn)
        assert len(invocation.event.initial_execution_state.operations) == min(len(ids) + 1, 100)
    service.close()


def test_store_files_are_private(store_path: Path) -> None:
    previous = os.umask(0)  # even a permissive umask must not widen the store
    try:
        service = LocalService(store_path)
        driver = Driver(service)
        driver.send(step_start("s"), step_succeed("s"))
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{store_path}{suffix}")
            assert path.exists(), path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))
        service.close()
    finally:
        os.umask(previous)


def test_wal_mode_and_full_sync(service: LocalService, store_path: Path) -> None:
    with sqlite3.connect(store_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert service._store._db.execute("PRAGMA synchronous").fetchone() == (2,)


def test_everything_survives_reopening(store_path: Path) -> None:
    first = LocalService(store_path)
    driver = Driver(first, name="kept")
    driver.send(step_start("s", name="one"), step_succeed("s"))
    history = first.get_history(driver.arn)
    first.close()
    again = LocalService(store_path)
    assert again.get_history(driver.arn) == history
    assert again.find_execution("kept") == again.get_execution(driver.arn)
    assert [op.operation_id for op in again.get_operations(driver.arn)][1:] == ["s"]
    again.close()


def test_readers_and_the_checkpoint_thread_share_the_store(service: LocalService, store_path: Path) -> None:
    from aws_durable_execution_sdk_python import DurableContext, durable_execution

    @durable_execution
    def handler(event: int, ctx: DurableContext) -> int:
        return sum(ctx.step(lambda _, i=i: i, name=f"s{i}") for i in range(event))

    stop = threading.Event()
    failures: list[BaseException] = []
    other_process_view = LocalService(store_path)

    def read() -> None:
        try:
            while not stop.is_set():
                for record in service.list_executions():
                    service.get_history(record.arn)
                    other_process_view.get_history(record.arn)
        except BaseException as error:
            failures.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        record = LocalRunner(service, {"fn": official_handler(handler)}).run("fn", 30)
    finally:
        stop.set()
        reader.join()
        other_process_view.close()
    assert not failures
    assert record.status == "SUCCEEDED" and record.result == str(sum(range(30)))


def test_the_execution_operation_and_arn(service: LocalService) -> None:
    record = service.start_execution("my-fn", '{"a": 1}', name="job-1")
    assert record.arn.startswith("arn:aws:lambda:local:000000000000:function:my-fn:$LATEST/durable-execution/job-1/")
    assert (record.status, record.input_payload, record.invocation_count) == ("RUNNING", '{"a": 1}', 0)
    invocation = service.begin_invocation(record.arn)
    first = invocation.event.initial_execution_state.operations[0]
    assert first.operation_id == record.arn.split("/")[-1]
    assert first.operation_type is OperationType.EXECUTION
    assert first.execution_details is not None and first.execution_details.input_payload == '{"a": 1}'
    assert first.name == "job-1"
    assert invocation.event.updated_operation_ids == []
    started = service.get_history(record.arn)[0]
    assert started["EventType"] == "ExecutionStarted"
    assert started["Id"] == first.operation_id and started["Name"] == "job-1"
    assert started["ExecutionStartedDetails"] == {
        "Input": {"Payload": '{"a": 1}', "Truncated": False},
        "ExecutionTimeout": 86400,
    }


def test_execution_names(service: LocalService) -> None:
    generated = service.start_execution("fn", None)
    assert len(generated.name) == 32
    service.start_execution("fn", None, name="unique")
    with pytest.raises(ExecutionNameConflictError, match="already exists"):
        service.start_execution("fn", None, name="unique")
    with pytest.raises(ValueError, match="Invalid execution name"):
        service.start_execution("fn", None, name="has space")
    with pytest.raises(ValueError, match="Invalid execution name"):
        service.start_execution("fn", None, name="x" * 65)
    assert [r.name for r in service.list_executions()] == [generated.name, "unique"]
    assert service.find_execution("missing") is None


def test_an_unknown_execution_says_what_to_do(service: LocalService) -> None:
    with pytest.raises(ExecutionNotFoundError, match="list_executions") as caught:
        service.get_execution("arn:nope")
    assert isinstance(caught.value, LookupError)
    with pytest.raises(ExecutionNotFoundError):
        service.get_history("arn:nope")


def test_history_without_execution_data(service: LocalService) -> None:
    driver = Driver(service)
    driver.send(step_start("s"), step_succeed("s", payload='"secret"'))
    hidden = service.get_history(driver.arn, include_execution_data=False)
    assert hidden[0]["ExecutionStartedDetails"]["Input"] == {"Truncated": True}
    assert hidden[-1]["StepSucceededDetails"]["Result"] == {"Truncated": True}
    assert "secret" not in json.dumps(history_to_json(hidden))
    shown = history_to_json(service.get_history(driver.arn))
    assert json.loads(json.dumps(shown))[-1]["StepSucceededDetails"]["Result"]["Payload"] == '"secret"'
    assert isinstance(shown[0]["EventTimestamp"], str)


def test_the_default_store_is_in_memory() -> None:
    service = LocalService()
    assert service.path == ":memory:"
    driver = Driver(service)
    driver.send(step_start("s"), step_succeed("s"))
    assert driver.finish("SUCCEEDED", Result='"r"').status == "SUCCEEDED"
    service.close()
