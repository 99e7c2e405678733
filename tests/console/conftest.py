"""Fixtures of the console tests: real runs in other processes, a real console server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from durable_mp.console.command import open_view
from durable_mp.console.server import TOKEN_HEADER, ConsoleServer

if TYPE_CHECKING:
    from collections.abc import Iterator

JOBS = Path(__file__).with_name("console_jobs.py")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "durable_mp", *args]


def run_job(
    store: Path, handler: str, name: str, payload: Any = None, *extra: str
) -> subprocess.CompletedProcess[str]:
    """``durable-mp run`` one of console_jobs' handlers to its end, in another process."""
    command = cli("run", f"{JOBS}:{handler}", "--store", str(store), "--name", name, "--json")
    if payload is not None:
        command += ["--input", json.dumps(payload)]
    result = subprocess.run(
        [*command, *extra], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def start_job(store: Path, handler: str, name: str, *extra: str) -> subprocess.Popen[str]:
    """``durable-mp run`` in the background (it waits for a callback, a stop, ...)."""
    return subprocess.Popen(
        [*cli("run", f"{JOBS}:{handler}", "--store", str(store), "--name", name), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"the run did not end:\n{out}\n{err}") from None
    return process.returncode, out, err


class Console:
    """A console server over a store, served from a thread of this process."""

    def __init__(self, store: Path, *, read_only: bool = False) -> None:
        self.view = open_view(str(store), read_only=read_only)
        self.server = ConsoleServer(self.view)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = self.server.url
        self.base = self.url.split("/?")[0]
        self.token = self.server.token

    def request(
        self,
        path: str,
        *,
        body: Any = None,
        token: str | None = "header",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """(status, decoded JSON or text) of one request; ``token`` None sends none."""
        sent = dict(headers or {})
        if token == "header":
            sent[TOKEN_HEADER] = self.token
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent["Content-Type"] = content_type
        request = urllib.request.Request(self.base + path, data=data, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            return status, json.loads(text)
        except json.JSONDecodeError:
            return status, text

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        self.view.close()


@contextmanager
def console(store: Path, *, read_only: bool = False) -> Iterator[Console]:
    served = Console(store, read_only=read_only)
    try:
        yield served
    finally:
        served.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"
