"""Callbacks completed and executions stopped from another terminal, and chained invokes.

The issue's acceptance: a ``durable-mp run --store`` that waits for a callback prints the
command that completes it; running that command in another process resumes the run,
and so does killing the waiting run, completing the callback, and running it again.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from durable_mp.local import LocalService

if TYPE_CHECKING:
    from pathlib import Path

JOB = textwrap.dedent(
    """
    from durable_mp import durable_execution


    @durable_execution
    def handler(event, ctx):
        return {"approved": ctx.create_callback(name="approval").result()}


    @durable_execution
    def parent(event, ctx):
        doubled = ctx.invoke("double", event["n"], name="durable")
        return ctx.invoke("shout", f"got {doubled}", name="plain")


    @durable_execution
    def double(event, ctx):
        return event * 2


    def shout(event, context):
        return event.upper()


    @durable_execution
    def asker(event, ctx):
        return {"child said": ctx.invoke("approver", None, name="ask")}


    @durable_execution
    def approver(event, ctx):
        return ctx.create_callback(name="child-approval").result()
    """
)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "durable_mp", *args]


def durable_mp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(*args), capture_output=True, text=True, timeout=60)


class Run:
    """A ``durable-mp run`` in the background, its stderr read line by line."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            cli("run", *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.process.stderr is not None
        self.reader = threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True)
        self.reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def line_with(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:  # short waits: a run that ended early fails the test at once
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                # the reader may still hold the last lines of a run that has just ended
                ended = self.process.poll() is not None and not self.reader.is_alive()
                if ended and self.lines.empty():
                    raise AssertionError(f"the run ended without a line with {text!r}: {self.seen}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"no line with {text!r} in {self.seen}") from None
                continue
            self.seen.append(line)
            if text in line:
                return line

    def finish(self) -> tuple[int, str, str]:
        assert self.process.stdout is not None
        stdout = self.process.stdout.read()  # stderr belongs to the reader thread
        self.process.wait(timeout=30)
        self.reader.join(10)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.process.returncode, stdout, "\n".join(self.seen)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def job(tmp_path: Path) -> Path:
    path = tmp_path / "job.py"
    path.write_text(JOB)
    return path


@pytest.fixture
def runs() -> Any:
    started: list[Run] = []

    def start(*args: str) -> Run:
        started.append(Run(*args))
        return started[-1]

    yield start
    for run in started:  # no leftover processes, whatever failed
        run.kill()


def printed_command(line: str) -> list[str]:
    """The command a waiting run printed, runnable here."""
    words = shlex.split(line.split("is waiting: ", 1)[1])
    assert words[:3] == ["durable-mp", "callback", "succeed"], words
    return cli(*words[1:])


def idle(store: Path, name: str) -> None:
    """Wait until the run's invocation has ended (it then only waits for the callback)."""
    observer = LocalService(store)
    record = observer.find_execution(name)
    assert record is not None
    deadline = time.monotonic() + 30
    while not any(e["EventType"] == "InvocationCompleted" for e in observer.get_history(record.arn)):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    observer.close()


def test_a_callback_completed_from_another_terminal_resumes_the_waiting_run(job, tmp_path, runs):
    store = tmp_path / "runs.db"
    run = runs(f"{job}:handler", "--store", str(store), "--json")
    line = run.line_with("callback 'approval' is waiting: ")
    assert f"--result '\"ok\"' --store {store}" in line
    command = printed_command(line)
    command[command.index("--result") + 1] = '{"by": "alice"}'
    answered = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert answered.returncode == 0, answered.stderr
    assert "callback succeeded" in answered.stderr
    code, stdout, stderr = run.finish()
    assert code == 0, stderr
    output = json.loads(stdout.splitlines()[-1])
    assert output == {"Status": "SUCCEEDED", "Result": json.dumps({"approved": '{"by": "alice"}'})}
    assert "callback 'approval' succeeded" in stderr


def test_a_killed_waiting_run_finishes_when_run_again(job, tmp_path, runs):
    store = tmp_path / "runs.db"
    command = (f"{job}:handler", "--store", str(store), "--name", "approve-1")
    run = runs(*command)
    line = run.line_with("is waiting: ")
    idle(store, "approve-1")
    os.kill(run.process.pid, signal.SIGKILL)
    run.kill()

    again = runs(*command)  # a resumed run tells again how to complete the callback
    assert again.line_with("resuming execution approve-1")
    assert again.line_with("is waiting: ") == line
    again.kill()

    answered = subprocess.run(printed_command(line), capture_output=True, text=True, timeout=60)
    assert answered.returncode == 0, answered.stderr
    finished = durable_mp("run", *command)
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout) == {"approved": '"ok"'}
    twice = subprocess.run(printed_command(line), capture_output=True, text=True, timeout=60)
    assert twice.returncode == 2
    assert "is closed" in twice.stderr and len(twice.stderr.strip().splitlines()) == 1


def test_stop_from_another_process_ends_the_run(job, tmp_path, runs):
    store = tmp_path / "runs.db"
    run = runs(f"{job}:handler", "--store", str(store), "--name", "stop-me", "--json")
    run.line_with("is waiting: ")
    stopped = durable_mp(
        "stop", "stop-me", "--store", str(store), "--error", '{"ErrorType": "Ops", "ErrorMessage": "maintenance"}'
    )
    assert stopped.returncode == 0 and "execution stop-me stopped" in stopped.stderr
    code, stdout, stderr = run.finish()
    assert code == 1
    assert "execution stop-me was stopped (durable-mp stop): Ops: maintenance" in stderr
    assert json.loads(stdout.splitlines()[-1]) == {
        "Status": "STOPPED",
        "Error": {"ErrorType": "Ops", "ErrorMessage": "maintenance"},
    }
    again = durable_mp("stop", "stop-me", "--store", str(store))
    assert again.returncode == 0 and "already ended (STOPPED)" in again.stderr


def test_a_failed_callback_and_an_in_memory_hint(job, tmp_path, runs):
    store = tmp_path / "runs.db"
    run = runs(f"{job}:handler", "--store", str(store), "--name", "reject-me")
    callback_id = printed_command(run.line_with("is waiting: "))[5]
    failed = durable_mp("callback", "fail", callback_id, "--store", str(store), "--error", "not approved")
    assert failed.returncode == 0, failed.stderr
    code, _, stderr = run.finish()
    assert code == 1
    assert "callback 'approval' failed: Error: not approved" in stderr

    in_memory = runs(f"{job}:handler")
    assert "only a run with --store can be completed" in in_memory.line_with("is waiting")


def test_run_with_function_targets(job):
    result = durable_mp(
        "run",
        f"{job}:parent",
        "--input",
        '{"n": 21}',
        "--function",
        f"double={job}:double",
        "--function",
        f"shout={job}:shout",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "GOT 42"
    assert "invoke 'durable' succeeded" in result.stderr
    assert "invoke 'plain' succeeded" in result.stderr

    missing = durable_mp("run", f"{job}:parent", "--input", '{"n": 1}', "--json")
    assert missing.returncode == 1
    assert "Function not found: double." in missing.stderr


def test_a_chained_child_waiting_for_a_callback_is_announced_too(job, tmp_path, runs):
    store = tmp_path / "runs.db"
    run = runs(f"{job}:asker", "--store", str(store), "--function", f"approver={job}:approver")
    line = run.line_with("callback 'child-approval' is waiting: ")
    answered = subprocess.run(printed_command(line), capture_output=True, text=True, timeout=60)
    assert answered.returncode == 0, answered.stderr
    code, stdout, stderr = run.finish()
    assert code == 0, stderr
    assert json.loads(stdout) == {"child said": '"ok"'}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["callback", "succeed", "A" * 43, "--store", "STORE"], "No callback with id"),
        (["callback", "succeed", "x y", "--store", "STORE"], "is not a callback id"),
        (["callback", "succeed", "abc", "--store", "STORE", "--result", "{oops"], "--result is not valid JSON"),
        (["callback", "succeed", "abc", "--store", "STORE", "--error", "x"], "unrecognized arguments"),
        (["callback", "fail", "abc", "--store", "STORE", "--error", '{"Bogus": 1}'], "unknown field(s) Bogus"),
        (["callback", "fail", "abc", "--store", "STORE", "--error", "[1]"], "must be a JSON object"),
        (["callback", "fail", "abc", "--store", "STORE", "--error", "{oops"], "--error is not valid JSON"),
        (["callback", "heartbeat", "abc", "--store", "/nonexistent/x.db"], "no such store file"),
        (["callback", "nudge", "abc", "--store", "STORE"], "invalid choice"),
        (["stop", "ghost", "--store", "STORE"], "no execution named 'ghost'"),
        (["run", "JOB:handler", "--function", "noequals"], "is not NAME=TARGET"),
        (["run", "JOB:handler", "--function", "x=JOB:nope"], "--function x: "),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(job, tmp_path, args, message):
    store = tmp_path / "s.db"
    LocalService(store).close()
    args = [a.replace("JOB", str(job)).replace("STORE", str(store)) for a in args]
    result = durable_mp(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_results_and_errors_from_files_up_to_the_1_mb_limit(job, tmp_path, runs):
    store = tmp_path / "runs.db"
    limit = 1024 * 1024
    approve = runs(f"{job}:handler", "--store", str(store), "--name", "approve", "--json")
    callback_id = printed_command(approve.line_with("is waiting: "))[5]
    too_big = tmp_path / "too-big.json"
    too_big.write_text(json.dumps("x" * limit))
    refused = durable_mp("callback", "succeed", callback_id, "--result-file", str(too_big), "--store", str(store))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert f"a callback result is at most {limit:,} bytes" in refused.stderr
    both = durable_mp("callback", "succeed", callback_id, "--result", "1", "--result-file", str(too_big), "--store", str(store))
    assert both.returncode == 2 and "not allowed with" in both.stderr
    result = tmp_path / "result.json"
    result.write_text(json.dumps("y" * (limit - 10)) + "\n")  # just under the limit
    answered = durable_mp("callback", "succeed", callback_id, "--result-file", str(result), "--store", str(store))
    assert answered.returncode == 0, answered.stderr
    code, stdout, stderr = approve.finish()
    assert code == 0, stderr
    assert json.loads(json.loads(stdout.splitlines()[-1])["Result"]) == {
        "approved": json.dumps("y" * (limit - 10))
    }

    reject = runs(f"{job}:handler", "--store", str(store), "--name", "reject", "--json")
    callback_id = printed_command(reject.line_with("is waiting: "))[5]
    error = tmp_path / "error.json"
    error.write_text(json.dumps({"ErrorType": "Rejected", "ErrorMessage": "no", "ErrorData": "d" * (limit - 100)}))
    failed = durable_mp("callback", "fail", callback_id, "--error-file", str(error), "--store", str(store))
    assert failed.returncode == 0, failed.stderr
    code, stdout, stderr = reject.finish()
    assert code == 1
    assert json.loads(stdout.splitlines()[-1])["Status"] == "FAILED"
    events = json.loads(durable_mp("history", "reject", "--store", str(store), "--json").stdout)
    (failure,) = [e for e in events if e["EventType"] == "CallbackFailed"]
    payload = failure["CallbackFailedDetails"]["Error"]["Payload"]
    assert payload["ErrorType"] == "Rejected" and payload["ErrorData"] == "d" * (limit - 100)
