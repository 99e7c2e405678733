"""The sandbox itself, through its Python API: what a handler sees and what is imposed.

Plain Lambda handlers (no durable service needed) run under awslambdaric in a real
sandbox: cgroups, a mount namespace, uid 993. This machine supports every constraint, so
a missing one fails here rather than degrading.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from durable_mp.sandbox import FunctionConfig, InitFailed, Sandbox
from durable_mp.sandbox.platform import capabilities

HANDLER = '''
import json, os, sys, threading, time, subprocess, importlib.util
from pathlib import Path

TICKS = [0]

def _tick():
    while True:
        time.sleep(0.01)
        TICKS[0] += 1

threading.Thread(target=_tick, daemon=True).start()

def quota():
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if "cpu" in names.split(","):
            group = Path("/sys/fs/cgroup/cpu") / path.lstrip("/")
            return int((group / "cpu.cfs_quota_us").read_text()) / int((group / "cpu.cfs_period_us").read_text())

def handler(event, context):
    what = event.get("do")
    if what == "ticks":
        return TICKS[0]
    if what == "child":
        child = subprocess.Popen(["sleep", "1000"], start_new_session=True)
        return child.pid
    if what == "hog":
        hog = bytearray(event["mb"] * 1024 * 1024)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
    if what == "sleep":
        time.sleep(event["seconds"])
    if what == "fail":
        raise KeyError("no such thing")
    try:
        import multiprocessing
        multiprocessing.Lock()
        semaphores = "work"
    except OSError as error:
        semaphores = type(error).__name__
    try:
        Path(__file__).with_name("written").write_text("x")
        code_dir = "writable"
    except OSError as error:
        code_dir = error.strerror
    Path("/tmp/mine").write_text("x")
    return {
        "uid": os.getuid(),
        "request_id": context.aws_request_id,
        "arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "memory_env": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
        "memory_context": context.memory_limit_in_mb,
        "function_name": context.function_name,
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "cwd": os.getcwd(),
        "semaphores": semaphores,
        "code_dir": code_dir,
        "tmp": sorted(os.listdir("/tmp")),
        "quota": quota(),
        "durable_mp_importable": importlib.util.find_spec("durable_mp") is not None,
        "runtime_client": "awslambdaric" in sys.modules,
    }
'''


@pytest.fixture
def code(tmp_path: Path) -> Path:
    directory = tmp_path / "task"
    directory.mkdir()
    (directory / "app.py").write_text(HANDLER)
    return directory


@pytest.fixture
def sandboxes():
    started: list[Sandbox] = []
    yield started
    for sandbox in started:
        sandbox.kill()


def start(sandboxes, code: Path, **settings) -> Sandbox:
    config = FunctionConfig(name="app", handler="app.handler", task_root=code, **settings)
    sandbox = Sandbox.start(config)
    sandboxes.append(sandbox)
    return sandbox


def invoke(sandbox: Sandbox, event: dict, request_id: str = "req-1", **kwargs):
    return sandbox.invoke(json.dumps(event).encode(), request_id, **kwargs)


def test_this_machine_supports_every_constraint():
    caps = capabilities()
    assert caps.missing == {}, caps.missing


def test_the_handler_sees_what_lambda_shows_it(sandboxes, code):
    sandbox = start(sandboxes, code, memory_mb=512, timeout=30, bare=True)
    result = invoke(sandbox, {}, "req-42", trace_id="Root=1-abc-def;Parent=1;Sampled=0")
    assert result.reply.function_error is None, result.reply
    seen = json.loads(result.reply.payload)
    assert seen["uid"] == 993
    assert seen["request_id"] == "req-42"
    assert seen["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:app"
    assert 25_000 < seen["remaining_ms"] <= 30_000
    assert (seen["memory_env"], seen["memory_context"], seen["function_name"]) == (
        "512", "512", "app")
    assert seen["trace"] == "Root=1-abc-def;Parent=1;Sampled=0"
    assert seen["cwd"] == str(code)
    assert seen["semaphores"] != "work"  # sem_open fails: /dev/shm is read-only
    assert seen["code_dir"] == "Read-only file system"
    # A /tmp of its own: what it wrote, and only the directories it needs from the host's
    # (its code, the runtime layer, this Python if it lives in /tmp; all read-only).
    assert "mine" in seen["tmp"] and not (Path("/tmp") / "mine").exists()
    needed = {code, Path(sys.prefix), *(Path(entry) for entry in sys.path if entry)}
    allowed = {"mine"} | {
        path.resolve().relative_to("/tmp").parts[0]
        for path in needed
        if path.resolve().is_relative_to("/tmp") and path.resolve() != Path("/tmp")
    }
    assert set(seen["tmp"]) - allowed <= {
        name for name in seen["tmp"] if name.startswith("durable-mp-runtime-")}
    assert seen["quota"] == pytest.approx(512 / 1769, abs=1e-4)
    assert seen["durable_mp_importable"] is False  # bare: only the task root and the runtime
    assert seen["runtime_client"] is True
    assert result.init_duration_ms is not None and result.init_duration_ms > 0
    report = result.report("req-42", 512)
    assert report.startswith("REPORT RequestId: req-42\tDuration: ")
    assert "Init Duration: " in report and "Max Memory Used: " in report
    second = invoke(sandbox, {}, "req-43")
    assert second.init_duration_ms is None  # warm


@pytest.mark.parametrize(("memory", "vcpus"), [(1769, 1.0), (3538, 2.0), (10240, 6.0)])
def test_the_cpu_quota_follows_the_memory_size(sandboxes, code, memory, vcpus):
    sandbox = start(sandboxes, code, memory_mb=memory)
    seen = json.loads(invoke(sandbox, {}).reply.payload)
    assert seen["quota"] == pytest.approx(min(vcpus, memory / 1769), abs=1e-4)
    assert seen["memory_env"] == str(memory)


def _ticks_while_idle(sandbox: Sandbox) -> int:
    before = json.loads(invoke(sandbox, {"do": "ticks"}).reply.payload)
    time.sleep(0.6)
    after = json.loads(invoke(sandbox, {"do": "ticks"}, "req-2").reply.payload)
    return after - before


def test_the_whole_sandbox_is_frozen_between_invocations(sandboxes, code):
    frozen = start(sandboxes, code)
    assert _ticks_while_idle(frozen) < 10  # its background thread did not run meanwhile
    deadline = time.monotonic() + 5
    while not frozen.frozen:  # frozen again once the runtime asks for its next event
        assert time.monotonic() < deadline
        time.sleep(0.01)
    running = start(sandboxes, code, freeze=False)
    assert _ticks_while_idle(running) > 20
    assert not running.frozen


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_out_of_memory_kills_the_whole_sandbox(sandboxes, code):
    sandbox = start(sandboxes, code, memory_mb=128)
    child = json.loads(invoke(sandbox, {"do": "child"}).reply.payload)
    result = invoke(sandbox, {"do": "hog", "mb": 300}, "req-oom")
    assert json.loads(result.reply.payload) == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": "RequestId: req-oom Error: Runtime exited with error: signal: killed",
    }
    assert result.sandbox_died and not sandbox.alive
    assert _gone(child) and _gone(sandbox.pid)  # the child in its own session too


def test_timeout_kills_the_whole_sandbox(sandboxes, code):
    sandbox = start(sandboxes, code, timeout=1)
    child = json.loads(invoke(sandbox, {"do": "child"}).reply.payload)
    result = invoke(sandbox, {"do": "sleep", "seconds": 30}, "req-slow")
    assert json.loads(result.reply.payload) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: req-slow Error: Task timed out after 1.00 seconds",
    }
    assert result.sandbox_died and _gone(child) and _gone(sandbox.pid)


def test_a_handler_error_is_relayed_and_the_sandbox_stays_warm(sandboxes, code):
    sandbox = start(sandboxes, code)
    result = invoke(sandbox, {"do": "fail"}, "req-err")
    body = json.loads(result.reply.payload)
    assert (result.reply.function_error, body["errorType"]) == ("Unhandled", "KeyError")
    assert body["requestId"] == "req-err" and body["stackTrace"]
    assert not result.sandbox_died and sandbox.alive


def test_init_errors_and_the_init_timeout(sandboxes, tmp_path):
    tmp_path.chmod(0o755)  # pytest makes it 0700; the sandbox runs as uid 993
    (tmp_path / "broken.py").write_text("raise RuntimeError('bad config')\n")
    (tmp_path / "slow.py").write_text(textwrap.dedent("""
        import time
        time.sleep(30)
        def handler(event, context):
            return 1
    """))
    config = FunctionConfig(name="broken", handler="broken.handler", task_root=tmp_path)
    with pytest.raises(InitFailed) as failed:
        Sandbox.start(config)
    body = json.loads(failed.value.reply.payload)
    assert body["errorType"] == "RuntimeError" and "bad config" in body["errorMessage"]
    config = FunctionConfig(name="slow", handler="slow.handler", task_root=tmp_path,
                            init_timeout=1)
    started = time.monotonic()
    with pytest.raises(InitFailed) as failed:
        Sandbox.start(config)
    assert failed.value.timed_out and time.monotonic() - started < 10
    assert json.loads(failed.value.reply.payload)["errorType"] == "Sandbox.Timedout"


DURABLE_MODULE = '''
import os, time
from durable_mp import durable_execution
from durable_mp.workers import pool as default_workers

@durable_execution
def job(event, ctx):
    return ctx.step(lambda _: os.getpid())

def probe(event, context):
    """A plain handler beside the durable one: did the import start the pool? No step
    has run in this sandbox, so only INIT can have started it."""
    deadline = time.monotonic() + event["wait"]
    while time.monotonic() < deadline:
        pool = default_workers._pool
        if pool is not None and pool.worker_pids():
            return {"started_by_init": True, "workers": pool.worker_pids()}
        time.sleep(0.01)
    return {"started_by_init": False, "workers": []}
'''


@pytest.mark.parametrize("opt_out", [False, True])
def test_workers_start_during_init_unless_opted_out(sandboxes, tmp_path, opt_out):
    tmp_path.chmod(0o755)
    (tmp_path / "jobs.py").write_text(DURABLE_MODULE)
    environment = {"DURABLE_MP_INIT_WORKERS": "0"} if opt_out else {}
    config = FunctionConfig(name="jobs", handler="jobs.probe", task_root=tmp_path,
                            environment=environment)
    sandbox = Sandbox.start(config)
    sandboxes.append(sandbox)
    seen = json.loads(invoke(sandbox, {"wait": 2 if opt_out else 30}).reply.payload)
    if opt_out:
        assert seen == {"started_by_init": False, "workers": []}
    else:
        assert seen["started_by_init"] is True
        assert set(seen["workers"]) <= set(sandbox.pids()) and len(seen["workers"]) == 1
