"""FileSystemSerDes: values in files, pointers in checkpoints, the official envelope."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from durable_mp import StepConfig, durable_execution
from durable_mp.filesystem_serdes import (
    FileSystemPathEncoding,
    FileSystemSerDes,
    FileSystemSerDesConfig,
    FileSystemSerDesMode,
)
from durable_mp.local import LocalRunner, LocalService
from durable_mp.serdes import SerDesContext

ARN = "arn:aws:lambda:local:000000000000:function:job:$LATEST/durable-execution/run-1/abc123"
CONTEXT = SerDesContext(operation_id="op-1", durable_execution_arn=ARN)
BIG = 7 * 1024 * 1024  # over the service's 6 MB per operation


def test_always_writes_a_file_and_checkpoints_its_path(tmp_path):
    serdes = FileSystemSerDes(tmp_path)
    value = {"when": "now", "items": [1, 2, 3], "blob": b"\x00\x01"}
    envelope = json.loads(serdes.serialize(value, CONTEXT))
    assert set(envelope) == {"file"}
    assert envelope["file"] == str(tmp_path / "job" / "run-1" / "abc123" / "op-1.json")
    assert os.path.isfile(envelope["file"])
    assert serdes.deserialize(json.dumps(envelope), CONTEXT) == value
    assert [p.name for p in (tmp_path / "job" / "run-1" / "abc123").iterdir()] == ["op-1.json"]


def test_overflow_keeps_small_values_inline(tmp_path):
    serdes = FileSystemSerDes(
        tmp_path, FileSystemSerDesConfig(storage_mode=FileSystemSerDesMode.OVERFLOW)
    )
    small = serdes.serialize([1, 2], CONTEXT)
    assert json.loads(small) == {"data": "[1,2]"}
    assert not any(tmp_path.iterdir())
    large = serdes.serialize("x" * 300_000, CONTEXT)
    assert "file" in json.loads(large)
    assert serdes.deserialize(small, CONTEXT) == [1, 2]
    assert serdes.deserialize(large, CONTEXT) == "x" * 300_000


def test_hash_encoding_and_unparsable_arns(tmp_path):
    hashed = FileSystemSerDes(
        tmp_path, FileSystemSerDesConfig(path_encoding=FileSystemPathEncoding.HASH)
    )
    digest = hashlib.sha256
    assert hashed.path_for(CONTEXT) == str(
        tmp_path / digest(ARN.encode()).hexdigest() / f"{digest(b'op-1').hexdigest()}.json"
    )
    odd = SerDesContext("a/b", "not an arn")
    assert FileSystemSerDes(tmp_path).path_for(odd) == str(
        tmp_path / "not%20an%20arn" / "a%2Fb.json"
    )


def test_preview_is_kept_inline(tmp_path):
    serdes = FileSystemSerDes(
        tmp_path, FileSystemSerDesConfig(generate_preview=lambda value: {"count": len(value)})
    )
    envelope = json.loads(serdes.serialize(list(range(10)), CONTEXT))
    assert envelope["preview"] == {"count": 10}
    assert serdes.deserialize(json.dumps(envelope), CONTEXT) == list(range(10))


def test_not_an_envelope_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="envelope"):
        FileSystemSerDes(tmp_path).deserialize("[1]", CONTEXT)


def test_the_official_sdk_reads_our_files_and_we_read_theirs(tmp_path):
    from aws_durable_execution_sdk_python import filesystem_serdes as official
    from aws_durable_execution_sdk_python.serdes import SerDesContext as OfficialContext

    theirs = official.FileSystemSerDes(str(tmp_path / "theirs"))
    ours = FileSystemSerDes(tmp_path / "ours")
    value = {"a": [1, 2.5, None], "b": "text"}
    their_context = OfficialContext(CONTEXT.operation_id, ARN)
    assert theirs.deserialize(ours.serialize(value, CONTEXT), their_context) == value
    assert ours.deserialize(theirs.serialize(value, their_context), CONTEXT) == value
    assert os.path.relpath(ours.path_for(CONTEXT), tmp_path / "ours") == os.path.relpath(
        json.loads(theirs.serialize(value, their_context))["file"], tmp_path / "theirs"
    )


def _big_step_handler(executor: str, serdes: FileSystemSerDes | None):
    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        value = ctx.step(lambda _: "y" * BIG, name="big", config=StepConfig(serdes=serdes))
        return len(value)

    return handler


@pytest.mark.parametrize("executor", ["process", "thread"])
def test_a_result_over_6_mb_needs_it_and_replays_from_the_file(tmp_path, executor):
    service = LocalService()
    runner = LocalRunner(
        service,
        {
            "inline": _big_step_handler(executor, None),
            "offloaded": _big_step_handler(executor, FileSystemSerDes(tmp_path)),
        },
    )
    failed = runner.run("inline")
    assert failed.status == "FAILED"
    assert "6 MB" in (failed.error.message or "")

    record = runner.run("offloaded")
    assert record.status == "SUCCEEDED", record.error
    assert json.loads(record.result) == BIG
    (step,) = [op for op in service.get_operations(record.arn) if op.name == "big"]
    pointer = json.loads(step.step_details.result)
    assert os.path.getsize(pointer["file"]) == BIG + 2  # the JSON string
    assert runner.replay(record.arn)["Result"] == str(BIG)
    assert runner.last_replay.updates == []
