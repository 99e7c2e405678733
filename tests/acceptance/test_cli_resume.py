"""Issue acceptance: `durable-mp run --store`, SIGKILLed in the middle of step 3 of 5,
resumes when the identical command runs again; steps 1-2 ran once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil

JOB = textwrap.dedent(
    """
    import os
    import time

    from durable_mp import durable_execution

    MARKERS = os.environ["MARKER_DIR"]


    def body(i):
        def run(step):
            with open(os.path.join(MARKERS, f"step{i}"), "a") as marker:
                marker.write(f"{os.getpid()}\\n")
            if i == 3:
                time.sleep(float(os.environ.get("STEP3_SLEEP", "0")))
            return i * 10

        return run


    @durable_execution
    def handler(event, ctx):
        return sum(ctx.step(body(i), name=f"step{i}") for i in range(1, 6)) + event["bonus"]
    """
)


def cli(*args):
    return [sys.executable, "-m", "durable_mp", *args]


def lines(path):
    return open(path).read().split() if os.path.exists(path) else []


def test_killed_run_resumes_without_rerunning_completed_steps(tmp_path):
    job = tmp_path / "five_steps.py"
    job.write_text(JOB)
    store = tmp_path / "runs.db"
    command = cli(
        "run",
        f"{job}:handler",
        "--input",
        '{"bonus": 1}',
        "--store",
        str(store),
        "--name",
        "five",
        "--json",
    )
    env = {**os.environ, "MARKER_DIR": str(tmp_path), "STEP3_SLEEP": "60"}

    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not lines(tmp_path / "step3") and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    assert lines(tmp_path / "step3"), "step 3 never started"
    worker_pid = int(lines(tmp_path / "step3")[0])
    assert worker_pid != first.pid  # the body runs in a worker process
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    # the worker running step 3 does not outlive its parent
    deadline = time.monotonic() + 10
    while psutil.pid_exists(worker_pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(worker_pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    assert not _alive(worker_pid)

    env["STEP3_SLEEP"] = "0"
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    output = json.loads(second.stdout.strip().splitlines()[-1])
    assert output == {"Status": "SUCCEEDED", "Result": "151"}
    assert "resuming execution five" in second.stderr
    assert [len(lines(tmp_path / f"step{i}")) for i in range(1, 6)] == [1, 1, 2, 1, 1]

    history = subprocess.run(
        cli("history", "five", "--store", str(store), "--json"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    events = json.loads(history.stdout)
    crashed = [
        e
        for e in events
        if e["EventType"] == "InvocationCompleted" and e["InvocationCompletedDetails"].get("Error")
    ]
    assert len(crashed) == 1


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
