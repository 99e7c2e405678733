"""A runner process SIGKILLed in the middle of a step; a new process resumes the execution."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from durable_mp.local import LocalService

RUNNER = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, {tests!r})
    from aws_durable_execution_sdk_python import DurableContext, durable_execution
    from local_official_sdk import official_handler
    from durable_mp.local import LocalRunner, LocalService

    store, markers, mode = sys.argv[1:4]

    @durable_execution
    def handler(event, ctx: DurableContext):
        results = []
        for index in range(4):
            def body(_, index=index):
                open(os.path.join(markers, f"s{{index}}-{{os.getpid()}}"), "w").close()
                if index == 2 and mode == "start":
                    time.sleep(60)  # killed here
                return index
            results.append(ctx.step(body, name=f"s{{index}}"))
        return results

    runner = LocalRunner(LocalService(store), {{"fn": official_handler(handler)}})
    if mode == "start":
        arn = runner.start("fn", name="resumable")
        print(arn, flush=True)
        runner.drive(arn)
    else:
        record = runner.drive(sys.argv[4])
        print(json.dumps([record.status, record.result, record.invocation_count]), flush=True)
    """
)


def test_a_killed_runner_resumes_where_it_stopped(store_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "runner.py"
    script.write_text(RUNNER.format(tests=str(Path(__file__).parent)))
    markers = tmp_path / "markers"
    markers.mkdir()
    first = subprocess.Popen(
        [sys.executable, str(script), str(store_path), str(markers), "start"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert first.stdout is not None
    arn = first.stdout.readline().strip()
    observer = LocalService(store_path)  # another process's view of the same file
    deadline = time.monotonic() + 30
    while not any(
        e["EventType"] == "StepStarted" and e.get("Name") == "s2" for e in observer.get_history(arn)
    ):
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert observer.get_execution(arn).status == "RUNNING"

    second = subprocess.run(
        [sys.executable, str(script), str(store_path), str(markers), "resume", arn],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    status, result, invocations = __import__("json").loads(second.stdout.strip().splitlines()[-1])
    assert (status, result, invocations) == ("SUCCEEDED", "[0, 1, 2, 3]", 2)

    ran = sorted(name.split("-")[0] for name in os.listdir(markers))
    assert ran == ["s0", "s1", "s2", "s2", "s3"]  # only the interrupted step ran again
    history = observer.get_history(arn)
    types = [(e["EventType"], e.get("Name")) for e in history]
    crash = types.index(("InvocationCompleted", None))
    assert types[crash - 1] == ("StepStarted", "s2")
    assert types[crash + 1] == ("StepSucceeded", "s2")  # re-run without a second START
    error = history[crash]["InvocationCompletedDetails"]["Error"]["Payload"]
    assert error["ErrorType"] == "Runtime.ExitError" and "not counted" in error["ErrorMessage"]
    assert f"pid {first.pid} on " in error["ErrorMessage"]  # whose lease it took over
    assert types[-2:] == [("InvocationCompleted", None), ("ExecutionSucceeded", "resumable")]
    observer.close()
