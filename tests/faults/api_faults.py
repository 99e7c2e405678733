"""API faults on the Lambda path: the campaign's workflow under ``durable-mp serve``, driven
by AWS's ``dex-local-runner``, its checkpoint calls through :class:`FaultProxy`.

::

    dex-local-runner ──Invoke──► durable-mp serve (sandboxes) ──checkpoint──► FaultProxy
          ▲                                                                      │
          └──────────────────────────── forwarded (or not) ──────────────────────┘

The handler's boto3 client points at the proxy (``AWS_ENDPOINT_URL_LAMBDA``); the test
talks to dex directly (start, callbacks, history). For each execution
(:class:`ApiReport`): the result is the one its input determines; every acknowledged
checkpoint update is in the final history (``START`` as a ``*Started`` event, ``SUCCEED``
as a ``*Succeeded`` with the same payload, ...); no step body started after its success
was acknowledged; no at-most-once attempt ran twice; the history is well formed.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import psutil
from botocore.config import Config

from tests.faults import history, workflow
from tests.faults.proxy import CheckpointCall, FaultPlan, FaultProxy
from tests.serve.helpers import (
    DEX_RUNNER,
    SERVE_CLI,
    Serve,
    Started,
    base_env,
    free_port,
    wait_until_healthy,
)
from tests.serve.test_endpoint_abuse import raw_request

if TYPE_CHECKING:
    from pathlib import Path

FUNCTION = "campaign"
FUNCTION_TIMEOUT = 10.0  # seconds an invocation may run (serve --timeout)
STALL = FUNCTION_TIMEOUT + 2.0  # how long a "timeout" fault holds its call
EXECUTION_TIMEOUT = 300.0
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}

# The fault of each checkpoint call in order (a retried call counts again); a clean run
# of the workflow makes about 30.
EVERY_FAULT: list[str | None] = [
    None, "throttle", None, "server-error", None, "reset-before", None, "reset-after",
    None, None, "stale-token", None, None, None, "timeout",
]

# How each acknowledged update must show in the history.
_EVENT_OF_ACTION = {"START": "Started", "SUCCEED": "Succeeded", "FAIL": "Failed",
                    "RETRY": "Failed"}
_PREFIX_OF_TYPE = {"STEP": "Step", "CONTEXT": "Context", "WAIT": "Wait",
                   "CALLBACK": "Callback", "EXECUTION": "Execution",
                   "CHAINED_INVOKE": "ChainedInvoke"}


@dataclass
class ApiReport:
    seed: int
    status: str | None = None
    result_ok: bool = False
    calls: int = 0  # checkpoint calls the handler made
    faults: dict[str, int] = field(default_factory=dict)
    acknowledged: int = 0  # updates whose checkpoint answer reached the handler
    lost: list[str] = field(default_factory=list)  # acknowledged, not in the history
    invocations: int = 0
    reran_completed: list[str] = field(default_factory=list)
    at_most_once_twice: list[str] = field(default_factory=list)
    reran_in_flight: int = 0
    history_problems: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (self.result_ok and not self.lost and not self.reran_completed
                and not self.at_most_once_twice and not self.history_problems
                and not self.failures)

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        return (
            f"execution {self.seed}: {'ok' if self.ok else 'FAILED'} ({self.status}), "
            f"{self.calls} checkpoint calls, faults: {faults}; {self.acknowledged} "
            f"acknowledged updates, {len(self.lost)} lost; {self.invocations} invocations, "
            f"{self.seconds:.1f} s"
            + "".join(f"\n  {p}" for p in [*self.failures, *self.lost, *self.reran_completed,
                                            *self.at_most_once_twice, *self.history_problems])
        )


class LambdaStack:
    """dex-local-runner, the proxy and ``durable-mp serve``, each pointed at the next."""

    def __init__(self, workdir: Path, *, sandboxes: int = 2) -> None:
        assert DEX_RUNNER.exists(), "dex-local-runner is missing: pip install '.[test]'"
        self.workdir = workdir
        self.sandboxes = sandboxes
        self.proxy: FaultProxy | None = None
        self.started: list[Started] = []
        self.client: Any = None
        self.dex_url = ""
        self.serve_port = 0

    def __enter__(self) -> LambdaStack:
        dex_port = free_port()
        self.dex_url = f"http://127.0.0.1:{dex_port}"
        self.proxy = FaultProxy(self.dex_url, FaultPlan(), stall=STALL).__enter__()
        try:
            env = base_env(
                AWS_ENDPOINT_URL_LAMBDA=self.proxy.url,
                # markers and the callback id are shared with the test, outside the sandbox
                DURABLE_MP_SANDBOX_DISABLE="filesystem,non_root",
            )
            serve = Serve(
                [sys.executable, str(SERVE_CLI), "serve", "--port", "0",
                 f"{FUNCTION}={workflow.__file__}:handler", "--sandboxes", str(self.sandboxes),
                 "--memory-size", "3538", "--timeout", str(FUNCTION_TIMEOUT)],
                env,
            )
            self.started.append(serve)
            line = serve.wait_for_line("durable-mp serve:")
            serve_url = line.split(" at ", 1)[1].split()[0]
            self.serve_port = int(serve_url.rsplit(":", 1)[1])
            dex = Started(
                [str(DEX_RUNNER), "start-server", "--host", "127.0.0.1", "--port",
                 str(dex_port), "--lambda-endpoint", serve_url, "--log-level", "WARNING"],
                base_env(),
            )
            self.started.append(dex)
            wait_until_healthy(self.dex_url)
            self.client = boto3.client(
                "lambda", endpoint_url=self.dex_url, region_name="us-west-2",
                aws_access_key_id="x", aws_secret_access_key="x",
                config=Config(retries={"max_attempts": 0}),
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.started):
            try:
                process.stop()
            except AssertionError:
                pass
        if self.proxy is not None:
            self.proxy.__exit__()
            self.proxy = None

    def leftovers(self, grace: float = 5.0) -> list[str]:
        """Stop everything; what serve and dex had started that still runs after
        ``grace`` seconds."""
        self.__exit__()
        procs = [proc for started in self.started for proc in started.descendants]
        deadline = time.monotonic() + grace
        while True:
            alive = [proc for proc in procs if _running(proc)]
            if not alive or time.monotonic() > deadline:
                return [f"pid {proc.pid}" for proc in alive]
            time.sleep(0.05)

    def burst(self, requests: int = 200) -> Counter[str]:
        """``requests`` concurrent DryRun invokes at serve, all at once: how each ended
        (``204``, or the error, e.g. a connection reset)."""
        head = (f"POST /2015-03-31/functions/{FUNCTION}/invocations HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                "X-Amz-Invocation-Type: DryRun\r\n")
        barrier = threading.Barrier(requests)
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()

        def one() -> None:
            barrier.wait()
            try:
                status, _, _ = raw_request(self.serve_port, head, b"{}", timeout=60)
                outcome = str(status)
            except OSError as error:
                outcome = type(error).__name__
            with lock:
                outcomes[outcome] += 1

        threads = [threading.Thread(target=one) for _ in range(requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        return outcomes

    def run(self, seed: int, plan: FaultPlan) -> ApiReport:
        """One execution of the workflow under ``plan``'s faults, judged."""
        assert self.proxy is not None
        started = time.monotonic()
        report = ApiReport(seed)
        folder = self.workdir / f"execution-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        markers, callback_file = folder / "markers.log", folder / "callback-id"
        event = {"seed": seed, "markers": str(markers), "callback_file": str(callback_file)}
        self.proxy.plan = plan
        first_call = len(self.proxy.calls)
        arn = self._start(seed, event)
        sent = False
        deadline = time.monotonic() + EXECUTION_TIMEOUT
        while True:
            execution = self.client.get_durable_execution(DurableExecutionArn=arn)
            report.status = execution["Status"]
            if report.status in TERMINAL:
                break
            if not sent and callback_file.exists():
                self.client.send_durable_execution_callback_success(
                    CallbackId=callback_file.read_text().strip(),
                    Result=workflow.APPROVAL.encode(),
                )
                sent = True
            if time.monotonic() > deadline:
                report.failures.append(f"still {report.status} after {EXECUTION_TIMEOUT:.0f} s")
                self.client.stop_durable_execution(DurableExecutionArn=arn)
                break
            time.sleep(0.1)
        calls = [c for c in self.proxy.calls[first_call:] if c.arn == arn]
        report.calls = len(calls)
        report.faults = dict(Counter(c.fault for c in calls if c.fault))
        events = _events(self.client, arn)
        report.invocations = sum(e["EventType"] == "InvocationCompleted" for e in events)
        if report.status == "SUCCEEDED":
            result = json.loads(execution.get("Result") or "null")
            report.result_ok = result == workflow.expected_result(event)
            if not report.result_ok:
                report.failures.append(f"wrong result {result}")
        else:
            report.failures.append(f"the execution ended {report.status}: "
                                   f"{execution.get('Error')}")
        _judge_acknowledged(report, calls, events)
        _judge_markers(report, calls, markers)
        report.history_problems = history.problems(events, ended=True)
        report.failures += self.proxy.errors
        report.seconds = time.monotonic() - started
        return report

    def _start(self, seed: int, event: dict[str, Any]) -> str:
        body = json.dumps({
            "AccountId": "123456789012", "FunctionName": FUNCTION, "FunctionQualifier": "$LATEST",
            "ExecutionName": f"faults-{seed}-{os.urandom(3).hex()}",
            "ExecutionTimeoutSeconds": int(EXECUTION_TIMEOUT),
            "ExecutionRetentionPeriodDays": 1, "Input": json.dumps(event),
        }).encode()
        request = urllib.request.Request(f"{self.dex_url}/start-durable-execution", data=body,
                                         method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            arn: str = json.loads(response.read())["ExecutionArn"]
        return arn


def _running(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _events(client: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        page = client.get_durable_execution_history(
            DurableExecutionArn=arn, IncludeExecutionData=True,
            **({"Marker": marker} if marker else {}),
        )
        events.extend(page.get("Events", []))
        marker = page.get("NextMarker")
        if not marker:
            return events


def _judge_acknowledged(report: ApiReport, calls: list[CheckpointCall],
                        events: list[dict[str, Any]]) -> None:
    """Every acknowledged update shows in the history as what it said."""
    by_operation: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_operation.setdefault(event.get("Id", ""), []).append(event)
    for call in calls:
        if not call.acknowledged:
            continue
        for update in call.updates:
            report.acknowledged += 1
            kind = _PREFIX_OF_TYPE.get(update["Type"], "") + _EVENT_OF_ACTION.get(
                update["Action"], "")
            seen = [e for e in by_operation.get(update["Id"], []) if e["EventType"] == kind]
            what = f"{update['Action']} of {update['Type']} {update.get('Name') or update['Id']}"
            if not seen:
                report.lost.append(f"acknowledged {what} (call {call.number}) is not in the "
                                   "history")
            elif update["Action"] == "SUCCEED" and update.get("Payload") is not None:
                payloads = [_payload(e) for e in seen]
                if update["Payload"] not in payloads:
                    report.lost.append(f"acknowledged {what} with {update['Payload']!r}: the "
                                       f"history has {payloads}")


def _payload(event: dict[str, Any]) -> Any:
    for key, value in event.items():
        if key.endswith("Details") and isinstance(value, dict):
            result = value.get("Result") or {}
            return result.get("Payload") if isinstance(result, dict) else None
    return None


def _judge_markers(report: ApiReport, calls: list[CheckpointCall], markers: Path) -> None:
    """No body started after its step's success was acknowledged; no at-most-once
    attempt twice."""
    names: dict[str, str] = {}
    succeeded_at: dict[str, float] = {}
    for call in calls:
        for update in call.updates:
            if update.get("Name"):
                names[update["Id"]] = update["Name"]
            if call.acknowledged and update["Type"] == "STEP" and update["Action"] == "SUCCEED":
                succeeded_at.setdefault(update["Id"], call.at)
    done = {names.get(op, op): at for op, at in succeeded_at.items()}
    starts: Counter[tuple[str, int]] = Counter()
    lines = markers.read_text().splitlines() if markers.exists() else []
    for line in lines:
        mark = json.loads(line)
        if mark["phase"] != "start":
            continue
        starts[(mark["step"], mark["attempt"])] += 1
        if mark["step"] in done and mark["t"] > done[mark["step"]]:
            report.reran_completed.append(
                f"step {mark['step']!r} started again after its success was acknowledged")
    report.reran_in_flight = sum(count - 1 for count in starts.values())
    for (step, attempt), count in sorted(starts.items()):
        if step in workflow.AT_MOST_ONCE_STEPS and count > 1:
            report.at_most_once_twice.append(
                f"at-most-once step {step!r} attempt {attempt} ran {count} times")
