"""One dex stack per SDK: ``durable-mp serve`` and ``dex-local-runner``, pointed at each other.

serve runs the handlers (all of one SDK, each as function ``req-ID``, plus the
chained-invoke targets under their own names) in warm sandboxes and points their boto3
clients at dex (``AWS_ENDPOINT_URL_LAMBDA``); dex invokes serve's Invoke endpoint and
knows the chained-invoke targets from ``--function-configs``. Both listen on 127.0.0.1,
with dummy AWS credentials. durable-mp handlers are served made durable (they already
are); the official SDK's handlers and plain targets with ``--plain``, as they are.

Each SDK has its own stack because chained-invoke target names are global to a dex
server, and the two SDKs' targets of the same name must not answer for each other.
:meth:`DexStack.stop` ends both processes and checks that nothing they started is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import psutil
from botocore.config import Config

from tests.conformance import registry

if TYPE_CHECKING:
    from tests.conformance.spec import Spec

ROOT = Path(__file__).resolve().parents[2]
DEX_RUNNER = Path(sys.executable).parent / "dex-local-runner"
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_DEFAULT_REGION": "us-west-2",
}
# Each function has sandboxes of its own, as on Lambda; idle ones are frozen and cost only
# memory, and more of them means fewer cold starts when a function is invoked again.
SANDBOXES = 40
# dex and serve's endpoint are on every invocation's path, and the requirements' timings
# (a callback sent 1 s after it started, a wait of a few seconds) assume they answer
# promptly; the suite's other runs (the embedded target's threads) must not starve them.
# The sandboxes themselves get a vCPU's full weight from their cpu cgroup. Without the
# privilege to raise a priority, nice says so and runs the command as it is.
FIRST_IN_LINE = ["nice", "-n", "-10"]
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DUMMY_AWS)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@dataclass
class Served:
    """What one stack serves: functions (name -> serve TARGET) and requirements it cannot."""

    durable: dict[str, str] = field(default_factory=dict)
    plain: dict[str, str] = field(default_factory=dict)
    targets: dict[str, bool] = field(default_factory=dict)  # chained target -> durable?
    refused: dict[str, str] = field(default_factory=dict)  # requirement id -> why

    @classmethod
    def plan(cls, sdk_name: str, specs: list[Spec]) -> Served:
        served = cls()
        built = registry.built(sdk_name)
        owners: dict[str, tuple[str, str]] = {}  # target name -> (identity, requirement)
        for spec in specs:
            try:
                requirement = built.find(spec.id, spec.suite)
            except LookupError as error:
                served.refused[spec.id] = str(error)
                continue
            clash = [
                f"chained-invoke target {name!r} differs from {owners[name][1]}'s"
                for name, function in requirement.functions.items()
                if name in owners and owners[name][0] != registry.identity(function)
            ]
            if clash:
                served.refused[spec.id] = "; ".join(clash)
                continue
            main = served_name(spec)
            table = served.durable if sdk_name == "durable_mp" else served.plain
            table[main] = target(sdk_name, "req", spec.id)
            for name, function in requirement.functions.items():
                owners.setdefault(name, (registry.identity(function), spec.id))
                durable = registry.is_durable(function, sdk_name)
                served.targets[name] = durable
                kind = served.durable if durable and sdk_name == "durable_mp" else served.plain
                kind[name] = target(sdk_name, "fn", name)
        return served

    def serve_arguments(self, bundle: Path | None = None) -> list[str]:
        if bundle is not None:  # handler strings, as Lambda's Handler setting says them
            every = {**self.durable, **self.plain}
            return ["--bundle", str(bundle),
                    *(f"{name}={spec.replace(':', '.')}" for name, spec in every.items())]
        arguments = [f"{name}={spec}" for name, spec in self.durable.items()]
        for name, spec in self.plain.items():
            arguments += ["--plain", f"{name}={spec}"]
        return arguments

    def function_configs(self) -> str:
        return json.dumps(
            {
                name: ({"DurableConfig": {}} if durable else {})
                for name, durable in self.targets.items()
            }
        )


def served_name(spec: Spec) -> str:
    return f"req-{spec.id}"


def target(sdk_name: str, kind: str, key: str) -> str:
    """A serve TARGET of :mod:`tests.conformance.served`."""
    return f"tests.conformance.served:{sdk_name}__{kind}__{key}"


class DexStack:
    """serve + dex for one SDK; ``client`` is a boto3 ``lambda`` client of dex."""

    def __init__(self, sdk_name: str, specs: list[Spec], workdir: Path) -> None:
        self.sdk = sdk_name
        self.served = Served.plan(sdk_name, specs)
        self.workdir = workdir
        self.serve_log = workdir / f"serve-{sdk_name}.log"
        self.serve_stdout = workdir / f"serve-{sdk_name}.out"  # the plugin suite's records
        self.dex_log = workdir / f"dex-{sdk_name}.log"
        self._processes: list[subprocess.Popen[Any]] = []
        self._seen: list[psutil.Process] = []
        self.dex_url = ""
        self.client: Any = None
        self.bundle: Path | None = None
        self.markers = Path(tempfile.mkdtemp(prefix="durable-conformance-markers-",
                                             dir="/var/tmp"))
        self.markers.chmod(0o1777)  # the sandboxes' user writes there

    def start(self) -> DexStack:
        if not DEX_RUNNER.exists():
            raise RuntimeError(f"dex-local-runner is not installed ({DEX_RUNNER})")
        if not (self.served.durable or self.served.plain):
            raise RuntimeError(f"nothing to serve for {self.sdk}: {self.served.refused}")
        dex_port = free_port()
        self.dex_url = f"http://127.0.0.1:{dex_port}"
        if self.sdk == "durable_mp":
            self.bundle = build_bundle(self.workdir)
        serve_url = self._start_serve()
        command = [
            *FIRST_IN_LINE,
            str(DEX_RUNNER), "start-server", "--host", "127.0.0.1", "--port", str(dex_port),
            "--lambda-endpoint", serve_url, "--log-level", "WARNING",
            "--function-configs", self.served.function_configs(),
        ]  # fmt: skip
        with self.dex_log.open("ab") as log:
            self._processes.append(
                subprocess.Popen(
                    command, env=environment(), stdin=subprocess.DEVNULL, stdout=log, stderr=log
                )
            )
        self._wait_healthy()
        self.client = boto3.client(
            "lambda",
            endpoint_url=self.dex_url,
            region_name=DUMMY_AWS["AWS_DEFAULT_REGION"],
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=64),
        )
        return self

    def _start_serve(self) -> str:
        command = [
            *FIRST_IN_LINE,
            sys.executable, "-m", "tests.serve.serve_cli", "serve", "--host", "127.0.0.1",
            "--port", "0", "--sandboxes", str(SANDBOXES), "--timeout", "120",
            "--init-timeout", "60",
            *self.served.serve_arguments(self.bundle),
        ]  # fmt: skip
        with self.serve_log.open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=environment(AWS_ENDPOINT_URL_LAMBDA=self.dex_url,
                                DURABLE_CONFORMANCE_MARKERS=str(self.markers)),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        self._processes.append(process)
        line = _first_line(process, "durable-mp serve:", START_TIMEOUT)
        if line is None:
            raise RuntimeError(
                f"serve did not start; see {self.serve_log}: {self._tail(self.serve_log)}"
            )
        threading.Thread(target=_drain, args=(process, self.serve_stdout), daemon=True).start()
        return line.split(" at ", 1)[1].split()[0]

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.dex_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline or self._processes[-1].poll() is not None:
                raise RuntimeError(
                    f"dex did not start; see {self.dex_log}: {self._tail(self.dex_log)}"
                )
            time.sleep(0.1)

    def start_execution(self, function: str, name: str, input_json: str | None) -> str:
        """``POST /start-durable-execution``; the new execution's ARN."""
        body: dict[str, Any] = {
            "AccountId": "123456789012",
            "FunctionName": function,
            "FunctionQualifier": "$LATEST",
            "ExecutionName": name,
            "ExecutionTimeoutSeconds": 300,
            "ExecutionRetentionPeriodDays": 1,
        }
        if input_json is not None:
            body["Input"] = input_json
        request = urllib.request.Request(
            f"{self.dex_url}/start-durable-execution",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return str(json.loads(response.read())["ExecutionArn"])
        except urllib.error.HTTPError as error:
            raise RuntimeError(
                f"start-durable-execution: {error.code} {error.read()[:300]!r}"
            ) from None

    def stop(self) -> list[str]:
        """Stop dex, then serve; what was left running (and is now killed), if anything."""
        for process in self._processes:
            with contextlib.suppress(psutil.Error):
                self._seen += psutil.Process(process.pid).children(recursive=True)
        for process in reversed(self._processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.markers, ignore_errors=True)
        left = []
        for proc in self._seen:
            with contextlib.suppress(psutil.Error):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"pid {proc.pid} {' '.join(proc.cmdline())[:120]}")
                    proc.kill()
        return left

    @staticmethod
    def _tail(path: Path) -> str:
        try:
            return path.read_text(errors="replace")[-800:]
        except OSError:
            return ""


def build_bundle(workdir: Path) -> Path:
    """The durable-mp handlers as Lambda would get them: ``durable-mp package`` builds the
    zip (durable-mp and its dependencies as manylinux wheels), unzipped into a fresh
    directory that serve runs bare, with nothing else on the path."""
    archive = workdir / "conformance-bundle.zip"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    done = subprocess.run(
        [sys.executable, "-m", "durable_mp", "package", target("durable_mp", "req", "1-1"),
         "--output", str(archive), "--python", python],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"durable-mp package failed: {done.stderr.strip()[-800:]}")
    bundle = Path(tempfile.mkdtemp(prefix="bundle-", dir=workdir))
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(bundle)
    bundle.chmod(0o755)
    return bundle


def _first_line(process: subprocess.Popen[str], prefix: str, timeout: float) -> str | None:
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(prefix):
                found.append(line.strip())
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0] if found else None


def _drain(process: subprocess.Popen[str], path: Path) -> None:
    """Keep serve's stdout (the runtimes print plugin records there) in ``path``."""
    assert process.stdout is not None
    with path.open("a") as out:
        for line in process.stdout:
            out.write(line)
            out.flush()
