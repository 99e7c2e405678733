"""Helpers for the serve tests: processes under test, HTTP posts, durable events."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).parent
HANDLERS = HERE / "handlers.py"
SERVE_CLI = HERE / "serve_cli.py"
DEX_RUNNER = Path(sys.executable).parent / "dex-local-runner"
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_DEFAULT_REGION": "us-west-2",
}
READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DUMMY_AWS)
    env.update(extra)
    return env


class Started:
    """A process under test; its stdout lines are collected by a reader thread."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.errors: list[str] = []  # stderr, line by line (also echoed to ours)
        self.descendants: list[psutil.Process] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.errors.append(line.rstrip("\n"))
            sys.stderr.write(line)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_for_line(self, prefix: str, timeout: float = READY_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line starting {prefix!r} within {timeout} s") from None
            if line is None:
                raise AssertionError(f"exited ({self.process.wait()}) before printing {prefix!r}")
            if line.startswith(prefix):
                return line

    def wait_for_error(self, wanted: Callable[[str], bool], timeout: float = 30.0) -> list[str]:
        """The stderr lines ``wanted`` accepts, once there is one. stderr is read by a
        thread: a line the process printed before it answered over HTTP may not have
        been read yet when the answer arrives."""
        deadline = time.monotonic() + timeout
        while not (found := [line for line in list(self.errors) if wanted(line)]):
            if time.monotonic() > deadline:
                raise AssertionError(f"no such stderr line within {timeout} s: {self.errors}")
            time.sleep(0.02)
        return found

    def children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal, wait (kill on timeout); remember every descendant seen just before."""
        self.descendants += self.children()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.process.args[:3]} ignored signal {sig}") from None


class Serve(Started):
    url: str
    port: int
    ready_line: str


def post(url: str, body: Any, headers: dict[str, str] | None = None,
         timeout: float = 30.0) -> tuple[int, dict[str, str], Any]:
    """POST JSON; (status, lower-cased headers, decoded JSON body or None)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, got = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), error.headers
    lowered = {k.lower(): v for k, v in got.items()}
    return status, lowered, json.loads(raw) if raw else None


def invoke_url(serve: Serve, name: str) -> str:
    return f"{serve.url}/2015-03-31/functions/{name}/invocations"


def durable_event(payload: Any, name: str = "whoami") -> dict[str, Any]:
    """A hand-built first invocation of a new execution (nothing checkpointed yet)."""
    arn = f"arn:aws:lambda:us-west-2:123456789012:function:{name}/durable-execution/e1/exec-1"
    return {
        "DurableExecutionArn": arn,
        "CheckpointToken": "token-1",
        "InitialExecutionState": {
            "Operations": [{
                "Id": "exec-1",
                "Type": "EXECUTION",
                "Status": "STARTED",
                "ExecutionDetails": {"InputPayload": json.dumps(payload)},
            }],
            "NextMarker": "",
        },
    }


def wait_until_healthy(url: str, timeout: float = 30.0) -> None:
    """Poll dex-local-runner's /health until it answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"dex-local-runner at {url} did not become healthy")
        time.sleep(0.1)
