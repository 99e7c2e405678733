"""One execution environment: a runtime under awslambdaric, its cgroups, its Runtime API.

Lifecycle, as on Lambda: :meth:`Sandbox.start` runs INIT (the runtime imports the handler
module) until the runtime's first ``next``, within the INIT timeout; each
:meth:`Sandbox.invoke` thaws the environment, hands the runtime one event and waits for
``/response`` or ``/error``, the runtime's death, the memory limit or the deadline. When the
runtime asks for the next event and none is there, the whole environment (runtime and
every process it started) is frozen. A timeout, an out-of-memory or a runtime exit kills
the whole environment; the caller starts a fresh one for the next invocation.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from durable_mp.sandbox import cgroups, lambda_errors, launch
from durable_mp.sandbox.layer import ensure_client, runtime_layer
from durable_mp.sandbox.platform import Capabilities, capabilities, notice
from durable_mp.sandbox.runtime_api import Invocation, RuntimeApi
from durable_mp.sandbox.telemetry import ENV as telemetry_env
from durable_mp.sandbox.telemetry import TelemetryPipe

if TYPE_CHECKING:
    from durable_mp.sandbox.config import FunctionConfig
    from durable_mp.sandbox.lambda_errors import Reply

_POLL = 0.02
_EXIT_GRACE = 2.0


class InitFailed(Exception):
    """INIT did not complete: the handler did not load, the runtime died, or time ran out.

    ``reply`` is what Lambda answers the invocation that needed this sandbox.
    """

    def __init__(self, message: str, reply: Reply, *, timed_out: bool = False,
                 init_duration_ms: float = 0.0) -> None:
        super().__init__(message)
        self.reply = reply
        self.timed_out = timed_out
        self.init_duration_ms = init_duration_ms


@dataclass(frozen=True)
class InvokeResult:
    """How one invocation ended, with what Lambda's REPORT line says about it."""

    reply: Reply
    duration_ms: float
    init_duration_ms: float | None  # the sandbox's INIT, on its first invocation only
    max_memory_mb: int | None
    sandbox_died: bool

    def report(self, request_id: str, memory_mb: int) -> str:
        parts = [
            f"REPORT RequestId: {request_id}",
            f"Duration: {self.duration_ms:.2f} ms",
            f"Billed Duration: {int(self.duration_ms + 0.999)} ms",
            f"Memory Size: {memory_mb} MB",
        ]
        if self.max_memory_mb is not None:
            parts.append(f"Max Memory Used: {self.max_memory_mb} MB")
        if self.init_duration_ms is not None:
            parts.append(f"Init Duration: {self.init_duration_ms:.2f} ms")
        if self.reply.function_error:
            parts.append(f"Status: error\tError Type: {_error_type(self.reply)}")
        return "\t".join(parts)


class Sandbox:
    """A started execution environment; create it with :meth:`start`."""

    def __init__(self, config: FunctionConfig, caps: Capabilities) -> None:
        self.config = config
        self.caps = caps
        self._lock = threading.Lock()
        self._frozen = False
        self._dead = False
        self._first = True
        self._released = False
        self.groups: cgroups.SandboxGroups | None = None
        self._stage: Path | None = None
        self.api = RuntimeApi(on_idle=self._rest)
        self._process: subprocess.Popen[bytes] | None = None
        self._started = time.monotonic()
        self.init_duration_ms = 0.0

    # Start-up (INIT).

    @classmethod
    def start(cls, config: FunctionConfig, *, init_timeout: float | None = None) -> Sandbox:
        """Start the runtime and wait for the end of INIT (``InitFailed`` if it fails)."""
        ensure_client()
        sandbox = cls(config, capabilities())
        try:
            sandbox._launch()
            sandbox._wait_for_init(config.init_timeout if init_timeout is None else init_timeout)
        except BaseException:
            sandbox.kill()
            raise
        return sandbox

    def _launch(self) -> None:
        config, caps = self.config, self.caps
        wanted = [c for c in caps.controllers() if c != "freezer" or config.freeze]
        for key, reason in caps.missing.items():
            if key != "freezer" or config.freeze:
                notice(key, reason)
        if wanted:
            try:
                self.groups = cgroups.SandboxGroups.create(
                    f"{config.name}-{uuid.uuid4().hex[:8]}", wanted
                )
                if "memory" in self.groups.paths:
                    self.groups.limit_memory(config.memory_mb)
                if "cpu" in self.groups.paths:
                    self.groups.limit_cpu(config.vcpus)
            except OSError as error:
                notice("cgroups", f"cgroups unusable: {error}")
                if self.groups is not None:
                    self.groups.remove()
                self.groups = None
        if caps.filesystem:
            self._stage = Path(tempfile.mkdtemp(prefix=".durable-mp-tmp-", dir="/tmp"))
        layer = runtime_layer() if config.bare else None
        argv, extra = launch.command(
            config, caps, self.groups.procs_files() if self.groups else [], self._stage, layer
        )
        env = launch.environment(config, self.api.address, caps, layer)
        env.update(extra)
        telemetry = TelemetryPipe()
        env[telemetry_env] = str(telemetry.write_fd)
        self._started = time.monotonic()
        try:
            self._process = subprocess.Popen(
                argv, env=env, cwd=config.task_root, stdin=subprocess.DEVNULL,
                process_group=0, pass_fds=(telemetry.write_fd,),
            )
        finally:
            telemetry.started()

    def _wait_for_init(self, timeout: float) -> None:
        deadline = self._started + timeout
        api = self.api
        while not api.init_done.wait(_POLL):
            code = self._exit_code()
            if code is not None:
                api.init_done.wait(0.2)  # an /init/error posted just before the exit
                if api.init_error is None:
                    self._dead = True
                    raise InitFailed(
                        f"the runtime exited during INIT ({lambda_errors.exit_status(code)})",
                        lambda_errors.runtime_exited("", code),
                        init_duration_ms=self._since_start_ms(),
                    )
                break
            if self._out_of_memory():
                self.kill()
                raise InitFailed("INIT ran out of memory", lambda_errors.out_of_memory(""),
                                 init_duration_ms=self._since_start_ms())
            if time.monotonic() > deadline:
                duration = self._since_start_ms()
                self.kill()
                raise InitFailed(
                    f"INIT timed out after {timeout:.2f} seconds",
                    lambda_errors.timed_out("", timeout), timed_out=True,
                    init_duration_ms=duration,
                )
        ended = api.init_ended_at or time.monotonic()
        self.init_duration_ms = (ended - self._started) * 1000
        if api.init_error is not None:
            reply = lambda_errors.passed_through(api.init_error, api.init_error_type)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._require_process().wait(_EXIT_GRACE)
            self.kill()
            raise InitFailed(_error_text(reply), reply,
                             init_duration_ms=self.init_duration_ms)

    # Invocations.

    def invoke(
        self,
        payload: bytes,
        request_id: str,
        *,
        function_arn: str | None = None,
        trace_id: str | None = None,
        client_context: str | None = None,
        timeout: float | None = None,
    ) -> InvokeResult:
        """Run one invocation to its end; the sandbox is dead afterwards if ``sandbox_died``."""
        seconds = self.config.timeout if timeout is None else timeout
        started = time.monotonic()
        invocation = Invocation(
            request_id=request_id,
            payload=payload,
            deadline_ms=int((time.time() + seconds) * 1000),
            function_arn=function_arn or self.config.arn,
            trace_id=trace_id or _new_trace_id(),
            client_context=client_context,
        )
        with self._lock:
            if self._dead:
                raise RuntimeError("invoke on a dead sandbox")
            if self._frozen and self.groups is not None:
                self.groups.thaw()
                self._frozen = False
                self.groups.let_the_killed_die()
            self.api.submit(invocation)
        reply = self._await(invocation, started + seconds, seconds)
        init = self.init_duration_ms if self._first else None
        self._first = False
        return InvokeResult(
            reply=reply,
            duration_ms=(time.monotonic() - started) * 1000,
            init_duration_ms=init,
            max_memory_mb=self.groups.max_memory_mb() if self.groups else None,
            sandbox_died=self._dead,
        )

    def _await(self, invocation: Invocation, deadline: float, seconds: float) -> Reply:
        request_id = invocation.request_id
        while not invocation.done.wait(_POLL):
            if self._out_of_memory():
                self.kill()
                return lambda_errors.out_of_memory(request_id)
            code = self._exit_code()
            if code is not None:
                if invocation.done.wait(0.05):
                    break  # it answered, then exited
                self.kill()
                return lambda_errors.runtime_exited(request_id, code)
            if time.monotonic() > deadline:
                self.kill()
                return lambda_errors.timed_out(request_id, seconds)
        assert invocation.result is not None
        if invocation.error_type is not None:
            return lambda_errors.passed_through(invocation.result, invocation.error_type)
        return lambda_errors.Reply(invocation.result)

    def _rest(self) -> None:
        """The runtime waits for its next event: freeze the environment (Lambda does)."""
        if not self.config.freeze or self.groups is None or "freezer" not in self.groups.paths:
            return
        with self._lock:
            if self._dead or self._frozen or self.api.has_pending():
                return
            with contextlib.suppress(OSError):
                self._frozen = self.groups.freeze()

    # State and shutdown.

    @property
    def pid(self) -> int:
        return self._require_process().pid

    @property
    def alive(self) -> bool:
        return not self._dead and self._exit_code() is None

    @property
    def frozen(self) -> bool:
        return self._frozen

    def pids(self) -> list[int]:
        """Every process of the environment (needs a cgroup; else the runtime alone)."""
        if self.groups is not None:
            return self.groups.pids()
        return [self.pid] if self.alive else []

    def kill(self) -> int | None:
        """Kill the whole environment and release what it held; its exit code."""
        with self._lock:
            if self._released:
                return self._exit_code()
            self._released = self._dead = True
        process = self._process
        if self.groups is not None:
            with contextlib.suppress(OSError):
                self.groups.kill_all()
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            code: int | None = process.wait()
        else:
            code = None
        self._frozen = False
        self.api.close()
        if self.groups is not None:
            self.groups.remove()
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
        return code

    close = kill

    def _exit_code(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def _out_of_memory(self) -> bool:
        return self.groups is not None and self.groups.out_of_memory()

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("the sandbox was not started")
        return self._process

    def _since_start_ms(self) -> float:
        return (time.monotonic() - self._started) * 1000


def _new_trace_id() -> str:
    root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    parent, lineage = uuid.uuid4().hex[:16], uuid.uuid4().hex[:8]
    return f"Root={root};Parent={parent};Sampled=0;Lineage=1:{lineage}:0"


def _error_type(reply: Reply) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(reply.payload).get("errorType", "Unknown"))
    return "Unknown"


def _error_text(reply: Reply) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        body = json.loads(reply.payload)
        return f"{body.get('errorType')}: {body.get('errorMessage')}"
    return reply.payload.decode(errors="replace")
