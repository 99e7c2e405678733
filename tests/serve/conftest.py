"""Real processes for the serve tests: ``durable-mp serve`` and ``dex-local-runner``.

Every process a test starts is stopped at teardown (terminate, wait, kill on timeout),
and every process it had started in turn (runtimes, step workers) must be gone then.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import boto3
import psutil
import pytest
from botocore.config import Config

from tests.serve.helpers import (
    DEX_RUNNER,
    SERVE_CLI,
    Serve,
    Started,
    base_env,
    free_port,
    wait_until_healthy,
)

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def processes() -> Iterator[list[Started]]:
    """Processes started by the test; stopped, and checked for orphans, at teardown."""
    started: list[Started] = []
    yield started
    problems = []
    for proc in reversed(started):
        try:
            proc.stop()
        except AssertionError as error:
            problems.append(str(error))
    for proc in _still_running([p for s in started for p in s.descendants], timeout=5.0):
        problems.append(f"left behind: pid {proc.pid} {_cmdline(proc)}")
        proc.kill()
    assert not problems, problems


def _still_running(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of ``procs`` alive after ``timeout`` (a zombie has exited: it counts as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [proc for proc in procs if _running(proc)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return "?"


@pytest.fixture
def start_serve(processes: list[Started]) -> Any:
    def start(*args: str, env: dict[str, str] | None = None) -> Serve:
        command = [sys.executable, str(SERVE_CLI), "serve", "--port", "0", *args]
        serve = Serve(command, env or base_env())
        processes.append(serve)
        line = serve.wait_for_line("durable-mp serve:")
        serve.ready_line = line
        serve.url = line.split(" at ", 1)[1].split()[0]
        serve.port = int(serve.url.rsplit(":", 1)[1])
        return serve

    return start


@pytest.fixture
def dex_and_serve(processes, start_serve):
    """Starts dex-local-runner and serve, each pointed at the other, both on 127.0.0.1."""
    assert DEX_RUNNER.exists(), "dex-local-runner is missing: pip install '.[test]'"

    def start(*serve_args: str, sandbox_disable: str = "") -> tuple[str, object, Serve]:
        dex_port = free_port()
        dex_url = f"http://127.0.0.1:{dex_port}"
        env = base_env(AWS_ENDPOINT_URL_LAMBDA=dex_url, DURABLE_MP_SANDBOX_DISABLE=sandbox_disable)
        serve = start_serve(*serve_args, env=env)
        dex = Started(
            [str(DEX_RUNNER), "start-server", "--host", "127.0.0.1", "--port", str(dex_port),
             "--lambda-endpoint", serve.url, "--log-level", "WARNING"],
            base_env(),
        )
        processes.append(dex)
        wait_until_healthy(dex_url)
        client = boto3.client(
            "lambda", endpoint_url=dex_url, region_name="us-west-2", aws_access_key_id="x",
            aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}),
        )
        return dex_url, client, serve

    return start
