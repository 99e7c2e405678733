"""One sandbox: a runtime process, its socket, and how it answers when it dies.

The runtime is a fresh interpreter in its own process group, so Ctrl-C in a terminal
reaches only ``serve`` (which then stops every runtime cleanly), and a kill of the group
takes the runtime, its step workers and anything the user's code started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from durable_mp.serve import lambda_errors, wire

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

INIT_TIMEOUT = 120.0
_POLL = 0.2


class SandboxFailed(Exception):
    """A runtime did not start: the targets do not load, or the process died."""

    def __init__(self, message: str, *, target_error: bool, returncode: int | None = None):
        super().__init__(message)
        self.target_error = target_error
        self.returncode = returncode

    def reply(self, request_id: str) -> lambda_errors.Reply:
        if self.target_error or self.returncode is None:
            return lambda_errors.init_failed(str(self))
        return lambda_errors.runtime_exited(request_id, self.returncode)


class Sandbox:
    """A warm runtime process serving one invocation at a time."""

    def __init__(self, process: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self._process = process
        self._sock = sock
        self.functions: list[str] = []

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    @classmethod
    def start(
        cls,
        entries: Sequence[str],
        executor: str | None,
        workers: int | None,
        plain: Sequence[str] = (),
    ) -> Sandbox:
        """Start a runtime and wait until it has loaded the targets."""
        ours, theirs = socket.socketpair()
        command = [
            sys.executable, "-m", "durable_mp.serve.runtime",
            "--fd", str(theirs.fileno()), "--parent-pid", str(os.getpid()),
        ]
        if executor:
            command += ["--executor", executor]
        if workers:
            command += ["--workers", str(workers)]
        for entry in plain:
            command += ["--plain", entry]
        try:
            process = subprocess.Popen(
                [*command, "--", *entries],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                process_group=0,
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        sandbox = cls(process, ours)
        try:
            header, _ = wire.receive(ours, sandbox._waiter(time.monotonic() + INIT_TIMEOUT))
        except (wire.PeerGone, wire.WaitTimeout) as error:
            code = sandbox.kill()
            reason = "took too long" if isinstance(error, wire.WaitTimeout) else "exited"
            raise SandboxFailed(
                f"the runtime {reason} while loading the targets "
                f"({lambda_errors.exit_status(code)})",
                target_error=False,
                returncode=code,
            ) from None
        if header.get("op") != "ready":
            sandbox.kill()
            raise SandboxFailed(str(header.get("message")), target_error=True)
        sandbox.functions = list(header["functions"])
        return sandbox

    def invoke(
        self, function: str, context: dict[str, Any], payload: bytes, timeout: float
    ) -> lambda_errors.Reply:
        """Run one invocation; a dead or overrunning runtime becomes a function error."""
        request_id = str(context["aws_request_id"])
        context = {**context, "deadline_ms": int((time.time() + timeout) * 1000)}
        try:
            wire.send(self._sock, {"op": "invoke", "function": function, "context": context},
                      payload)
            header, body = wire.receive(self._sock, self._waiter(time.monotonic() + timeout))
        except wire.PeerGone:
            return lambda_errors.runtime_exited(request_id, self._reap())
        except wire.WaitTimeout:
            self.kill()
            return lambda_errors.timed_out(request_id, timeout)
        if header.get("op") == "result":
            return lambda_errors.Reply(body)
        return lambda_errors.function_error(
            str(header.get("errorType")), str(header.get("errorMessage")),
            header.get("stackTrace"),
        )

    def terminate(self) -> None:
        """Ask the runtime to stop: it stops its worker pool and exits."""
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> int:
        """Reap the runtime, killing its process group if it outlives ``deadline``."""
        try:
            self._process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return self.kill()
        self._sweep()
        return self._process.returncode

    def kill(self) -> int:
        """SIGKILL the runtime and everything in its process group; its exit code."""
        self._sweep()
        with contextlib.suppress(OSError):
            self._sock.close()
        return self._process.wait()

    def _reap(self) -> int:
        """The socket closed: the runtime is exiting; collect how it ended."""
        with contextlib.suppress(OSError):
            self._sock.close()
        return self.wait(time.monotonic() + 5.0)

    def _sweep(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)

    def _waiter(self, deadline: float) -> Callable[[], None]:
        """Block until the socket is readable; notice death and the deadline meanwhile."""

        def wait() -> None:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise wire.WaitTimeout()
                if wire.readable(self._sock, min(remaining, _POLL)):
                    return
                if not self.alive:
                    if wire.readable(self._sock, 0):
                        return  # it wrote its last words before exiting
                    raise wire.PeerGone("the runtime exited")

        return wait
