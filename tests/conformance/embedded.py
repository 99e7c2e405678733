"""Target "embedded": the durable-mp handler on durable-mp's own service, in this process.

Each requirement gets an in-memory :class:`LocalService` and a :class:`LocalRunner` with
the handler and its chained-invoke targets; callbacks are completed through the
service's ``send_callback_*``; log records are filed by execution ARN by a
:class:`LogBook` on the root logger. Waits are fast-forwarded unless the requirement has
callback actions: the runner fires a timer only while no invocation runs, so skipping
idle time cannot reorder events, but an external actor's delays must stay real.

A requirement whose handler kills its Lambda runtime (``step_executor="inline"``) runs in
child processes instead (:mod:`tests.conformance.embedded_process`): the crash kills one
process, the next one opens the same store and takes the execution over, which is how
the service learns of a dead invocation (``Runtime.ExitError``) for real.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_mp.lambda_service import ErrorObject
from durable_mp.local import LocalRunner, LocalService, history_to_json
from tests.conformance import plugin_records, registry
from tests.conformance.callbacks import CallbackDriver, failure_error, success_payload
from tests.conformance.logs import read_json_lines
from tests.conformance.matching import first_history_error
from tests.conformance.outcome import Observation

if TYPE_CHECKING:
    from durable_mp.local import ExecutionRecord
    from tests.conformance.logs import LogBook
    from tests.conformance.sdk import Requirement
    from tests.conformance.spec import Spec

TIMEOUT_SECONDS = 120.0
MAX_PROCESSES = 6  # a crash per process; more means the execution never settles
ROOT = Path(__file__).resolve().parents[2]


def main_function(spec: Spec) -> str:
    return f"req-{spec.id}"


class EmbeddedTarget:
    """Runs durable-mp requirements on the embedded service; see the module docstring."""

    name = "embedded"
    sdk = "durable_mp"

    def __init__(self, book: LogBook, workdir: Path, *, plugin_records_here: bool = True) -> None:
        """``plugin_records_here``: file the plugin suite's records in ``book`` (one
        target per process can: the sink is global)."""
        self.book = book
        self.workdir = workdir
        if plugin_records_here:  # in-process: plugin records skip the shared stdout
            plugin_records.sink = book.add

    def observe(self, spec: Spec, requirement: Requirement) -> Observation:
        if requirement.step_executor == "inline":
            return self._in_processes(spec)
        return self._in_process(spec, requirement)

    # -- in this process ---------------------------------------------------------------

    def _in_process(self, spec: Spec, requirement: Requirement) -> Observation:
        service = LocalService(None)
        try:
            durable, plain = registry.split_functions(requirement, self.sdk)
            main = main_function(spec)
            runner = LocalRunner(
                service,
                {main: registry.lambda_handler(requirement, self.sdk), **durable},
                plain_functions=plain,
                fast_forward=not spec.callback_actions,
            )
            timeout = requirement.execution_timeout_seconds
            options = {} if timeout is None else {"execution_timeout_seconds": timeout}
            arn = runner.start(main, spec.input_json, **options)
            seen = Observation(arn=arn)
            history = _history_of(service, arn)
            with CallbackDriver(spec.callback_actions, history, callback_sender(service)) as driver:
                record = _drive(runner, spec, arn, seen)
            seen.problems.extend(driver.errors)
            _finish(seen, record, history(), self.book.records(arn))
            return seen
        finally:
            service.close()

    # -- in child processes (the handler crashes its runtime) --------------------------

    def _in_processes(self, spec: Spec) -> Observation:
        store = self.workdir / f"{spec.id}-{os.urandom(4).hex()}.db"
        log = store.with_suffix(".log")
        seen = Observation()
        deadline = time.monotonic() + TIMEOUT_SECONDS
        with contextlib.ExitStack() as stack:
            for _ in range(MAX_PROCESSES):
                process = _spawn(spec, store, log, seen.arn)
                if seen.arn is None:
                    assert process.stdout is not None
                    seen.arn = process.stdout.readline().strip() or None
                    if seen.arn is None:
                        process.wait()
                        seen.problems.append(
                            f"the first process printed no ARN: {log.read_text()[-500:]}"
                        )
                        return seen
                    watcher = stack.enter_context(LocalService(store))
                    driver = stack.enter_context(
                        CallbackDriver(
                            spec.callback_actions,
                            _history_of(watcher, seen.arn),
                            callback_sender(watcher),
                        )
                    )
                try:
                    code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    seen.problems.append(f"timed out after {TIMEOUT_SECONDS:.0f} s")
                    break
                if code == 0:
                    break
            else:
                seen.problems.append(f"the execution crashed {MAX_PROCESSES} processes in a row")
            driver.stop()
            seen.problems.extend(driver.errors)
            record = watcher.get_execution(seen.arn)
            history = history_to_json(watcher.get_history(seen.arn))
            _finish(seen, record, history, read_json_lines(log).records(seen.arn))
        return seen


def _spawn(spec: Spec, store: Path, log: Path, arn: str | None) -> subprocess.Popen[str]:
    """One process of :mod:`tests.conformance.embedded_process`: start, or take over."""
    command = [sys.executable, "-m", "tests.conformance.embedded_process", str(store), spec.id]
    command += ["--arn", arn] if arn else ["--input", spec.input_json or ""]
    with log.open("a") as stderr:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT)


def _history_of(service: LocalService, arn: str) -> Any:
    return lambda: history_to_json(service.get_history(arn))


def callback_sender(service: LocalService) -> Any:
    """Sends a callback action through the embedded service's ``send_callback_*``."""

    def send(callback_id: str, action: dict[str, Any]) -> None:
        operation = action.get("Operation")
        if operation == "success":
            service.send_callback_success(callback_id, success_payload(action))
        elif operation == "failure":
            service.send_callback_failure(callback_id, ErrorObject.from_dict(failure_error(action)))
        else:
            service.send_callback_heartbeat(callback_id)

    return send


def _drive(runner: LocalRunner, spec: Spec, arn: str, seen: Observation) -> ExecutionRecord:
    """Drive to the end (or, for an AsyncInvoke without a result, until the events match)."""
    until = None
    if spec.async_invoke and spec.expected_result is None:
        history = _history_of(runner.service, arn)

        def until(record: ExecutionRecord) -> bool:
            return first_history_error(spec.expected_history, history()) is None

    outcome: list[Any] = []
    thread = threading.Thread(
        target=lambda: outcome.append(_capture(lambda: runner.drive(arn, until=until))),
        daemon=True,
    )
    thread.start()
    thread.join(TIMEOUT_SECONDS)
    if thread.is_alive():
        seen.problems.append(f"timed out after {TIMEOUT_SECONDS:.0f} s")
        runner.service.stop_execution(arn)
        thread.join(10)
    result = outcome[0] if outcome else None
    if isinstance(result, BaseException):
        seen.problems.append(f"the runner raised {type(result).__name__}: {result}")
    record = runner.service.get_execution(arn)
    if until is not None and not record.is_terminal:
        seen.matched_early = True
        record = runner.service.stop_execution(arn)
    return record


def _capture(function: Any) -> Any:
    try:
        return function()
    except BaseException as error:
        return error


def _finish(
    seen: Observation,
    record: ExecutionRecord,
    history: list[dict[str, Any]],
    logs: list[dict[str, Any]],
) -> None:
    seen.status = record.status
    seen.result = record.result
    seen.error = record.error.to_dict() if record.error else None
    seen.history = history
    seen.logs = logs
