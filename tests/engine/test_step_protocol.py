"""One attempt of a step body under each executor: its outcome, its BodyRun, its wrappers,
and the typed messages that cross a worker's pipe."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import pytest

from durable_mp.engine.executors import get_executor
from durable_mp.engine.step_body import ParentSide, StepJob
from durable_mp.exceptions import StepPicklingError, StepTimeoutError, SuspendExecution
from durable_mp.logger import Logger
from durable_mp.serdes import deserialize
from durable_mp.workers import BodyRun, Outcome, protocol
from tests.engine import step_bodies

pytestmark = pytest.mark.timeout(120)

ARN = "arn:test:exec-1"


def job(func: Any, **options: Any) -> StepJob:
    return StepJob(
        func=func,
        attempt=1,
        serdes=None,
        operation_id="op-1",
        durable_execution_arn=ARN,
        label="step 'probe' (operation op-1)",
        **options,
    )


def run(executor: str, step_job: StepJob) -> Outcome:
    parent = ParentSide(Logger(logging.getLogger("test"), {}), None, {}, None)  # type: ignore[arg-type]
    return get_executor(executor, workers=2).run(step_job, parent)


def value_of(outcome: Outcome) -> Any:
    assert outcome.ok, outcome.error
    return deserialize(None, outcome.value, "op-1", ARN)


@pytest.mark.parametrize("executor", ["process", "thread", "inline"])
def test_body_run_says_where_and_when_the_body_ran(executor: str) -> None:
    before = time.time()
    outcome = run(executor, job(step_bodies.where))
    after = time.time()
    seen = value_of(outcome)
    assert isinstance(outcome.run, BodyRun)
    run_ = outcome.run
    assert run_.executor == executor
    assert run_.pid == seen["pid"]
    assert run_.thread == seen["thread"]
    assert before <= run_.started_at <= seen["at"] <= run_.ended_at <= after
    if executor == "process":
        assert run_.pid != os.getpid()
        assert run_.thread == "MainThread"
    elif executor == "thread":
        assert run_.pid == os.getpid()
        assert run_.thread.startswith("durable-mp-step")
    else:
        assert run_.pid == os.getpid()
        assert run_.thread == threading.current_thread().name


@pytest.mark.parametrize("executor", ["process", "thread", "inline"])
def test_a_body_that_raised_still_has_its_run(executor: str) -> None:
    outcome = run(executor, job(step_bodies.fails))
    assert isinstance(outcome.error, ValueError)
    assert "the body failed" in "".join(outcome.traceback or [])
    assert outcome.run is not None
    assert outcome.run.executor == executor
    assert outcome.run.ended_at - outcome.run.started_at >= 0.005
    assert (outcome.run.pid == os.getpid()) is (executor != "process")


def test_no_run_when_the_body_never_started() -> None:
    lock = threading.Lock()
    outcome = run("process", job(lambda _: lock.locked()))
    assert isinstance(outcome.error, StepPicklingError)
    assert "closure variable 'lock'" in str(outcome.error)
    assert outcome.run is None


def test_no_run_when_the_worker_was_killed_before_it_could_report() -> None:
    outcome = run("process", job(step_bodies.sleeps, timeout=0.5))
    assert isinstance(outcome.error, StepTimeoutError)
    assert outcome.run is None


def test_unpicklable_serdes_is_named() -> None:
    class LockedSerDes:
        lock = threading.Lock()

        def __reduce__(self) -> Any:
            raise TypeError("cannot pickle a lock")

    step_job = StepJob(
        func=step_bodies.where,
        attempt=1,
        serdes=LockedSerDes(),  # type: ignore[arg-type]
        operation_id="op-1",
        durable_execution_arn=ARN,
        label="step 'probe' (operation op-1)",
    )
    outcome = run("process", step_job)
    assert isinstance(outcome.error, StepPicklingError)
    assert "its serdes (type" in str(outcome.error) and "LockedSerDes" in str(outcome.error)


@pytest.mark.parametrize("executor", ["process", "thread", "inline"])
def test_body_wrappers_run_around_the_body_where_it_runs(executor: str, tmp_path: Any) -> None:
    log = str(tmp_path / "wrappers.log")
    wrappers = (step_bodies.Recording("outer", log), step_bodies.Recording("inner", log))
    outcome = run(executor, job(step_bodies.where, body_wrappers=wrappers))
    seen = value_of(outcome)
    assert seen["wrappers"] == ["outer", "inner"]  # both active while the body ran
    body_pid = seen["pid"]
    assert (body_pid != os.getpid()) is (executor == "process")
    with open(log) as lines:
        entries = lines.read().split("\n")[:-1]
    assert entries == [
        f"enter outer {body_pid}",
        f"enter inner {body_pid}",
        f"exit inner {body_pid}",
        f"exit outer {body_pid}",
    ]
    assert step_bodies.ACTIVE == []


def test_a_wrapper_that_raises_fails_the_attempt_in_the_worker(tmp_path: Any) -> None:
    outcome = run("process", job(step_bodies.where, body_wrappers=(step_bodies.broken_wrapper,)))
    assert isinstance(outcome.error, RuntimeError)
    assert "the wrapper broke" in str(outcome.error)
    assert outcome.run is not None and outcome.run.pid != os.getpid()


# -- the messages themselves -------------------------------------------------------------

MESSAGES: list[protocol.Message] = [
    protocol.Start(1, b"call"),
    protocol.Stop(),
    protocol.Returned(1, b"value", (123, "MainThread", 1.0, 2.0)),
    protocol.Raised(1, protocol.RAISED, b"err", "ValueError", "bad", None, ["tb"], None),
    protocol.Note(1, b"body"),
    protocol.Request(1, 2, b"body"),
    protocol.Reply(2, b"value"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_survives_the_pipe_with_its_type(message: protocol.Message) -> None:
    decoded = protocol.decode(protocol.encode(message))
    assert type(decoded) is type(message)
    assert decoded == message


@pytest.mark.parametrize(
    "frame",
    [b"", b"\x63", b"\x00\x01", b"\x01extra", b"\x02" + b"\x00" * 5, b"\x03not a pickle"],
    ids=["empty", "unknown tag", "short start", "long stop", "short returned", "raised junk"],
)
def test_malformed_frames_are_refused(frame: bytes) -> None:
    with pytest.raises(ValueError, match="malformed worker message"):
        protocol.decode(frame)


def test_a_large_blob_arrives_as_a_view_without_a_copy() -> None:
    import socket

    from durable_mp.workers.channel import Channel

    blob = bytes(range(256)) * 4096  # 1 MB, larger than one small frame
    ours, theirs = socket.socketpair()
    sender, receiver = Channel(ours), Channel(theirs)
    try:
        import threading

        thread = threading.Thread(target=sender.send, args=(protocol.parts(protocol.Note(7, blob)),))
        thread.start()
        message = protocol.decode(receiver.recv())
        thread.join()
    finally:
        sender.close()
        receiver.close()
    assert type(message) is protocol.Note and message.job_id == 7
    assert isinstance(message.body, memoryview) and message.body == blob


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (protocol.AwaitReply(42), 42),
        (protocol.AwaitReply(error=ValueError("awaited step failed")), ValueError),
        (protocol.Suspension(SuspendExecution("suspending")), SuspendExecution),
    ],
)
def test_a_worker_side_future_turns_the_reply_into_a_value_or_a_raise(
    monkeypatch: pytest.MonkeyPatch, reply: Any, expected: Any
) -> None:
    import durable_mp.futures as futures

    asked: list[Any] = []
    monkeypatch.setattr(futures, "_request", lambda body: asked.append(body) or reply)
    future = futures.RemoteDurableFuture("h1", "step 'x'")
    if isinstance(expected, type):
        with pytest.raises(expected):
            future.result()
    else:
        assert future.result() == expected
    assert asked == [protocol.AwaitRequest(("h1",))]
