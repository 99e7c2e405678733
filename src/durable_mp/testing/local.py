"""DurableFunctionTestRunner: run a handler to its end on the embedded service, in this process.

Each test runner owns a :class:`~durable_mp.local.LocalService` (in memory unless given a
store) and drives executions with :class:`~durable_mp.local.LocalRunner`, one background
thread per execution. The handler runs as it would anywhere: step bodies go where it
says (worker processes by default), so a test exercises the real worker path. With
``skip_time=True`` waits and retry delays fire at once, while the history keeps the
durations the handler asked for.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from durable_mp.local import (
    ExecutionNameConflictError,
    ExecutionNotFoundError,
    LocalRunner,
    LocalService,
)
from durable_mp.testing.exceptions import DurableFunctionsTestError
from durable_mp.testing.model import (
    Event,
    GetDurableExecutionHistoryResponse,
    callback_id_from_events,
)
from durable_mp.testing.result import DurableFunctionTestResult

if TYPE_CHECKING:
    import os
    from collections.abc import Callable

    from durable_mp._wire import ErrorObject
    from durable_mp.context import DurableContext

__all__ = ["DurableChildContextTestRunner", "DurableFunctionTestRunner", "normalize_input"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")

DEFAULT_CHILD_EXECUTION_TIMEOUT_SECONDS = 120
DEFAULT_CHILD_RETENTION_PERIOD_DAYS = 1
# run() waits this much beyond the execution timeout: the service ends the execution
# (TIMED_OUT) at its timeout, and the result should say so rather than the wait give up.
_RESULT_GRACE_SECONDS = 10
_CLOSE_JOIN_SECONDS = 30.0


def normalize_input(value: Any) -> str:
    """The execution input as JSON text: JSON text stays as it is, anything else is encoded.

    ``"test"`` becomes ``'"test"'``, ``{"a": 1}`` becomes ``'{"a": 1}'`` and ``None``
    becomes ``'null'``, as AWS's runner does it.
    """
    if isinstance(value, str | bytes):
        try:
            json.loads(value)
        except ValueError:
            pass
        else:
            return value.decode() if isinstance(value, bytes) else value
        if isinstance(value, bytes):
            value = value.decode()
    return json.dumps(value)


@dataclass
class _Drive:
    """One execution being driven on its own thread."""

    arn: str
    thread: threading.Thread | None = None
    failure: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class DurableFunctionTestRunner:
    """Runs ``handler`` (a ``@durable_execution`` function) on the embedded service.

    Use it as a context manager; ``close()`` stops what still runs. ``store`` is a
    :class:`~durable_mp.local.LocalService` to share, or the path of a SQLite file; by
    default the runner keeps an in-memory service of its own. ``poll_interval`` bounds
    how long :meth:`wait_for_callback` sleeps between looks at the history (it also
    wakes as soon as the history grows). ``max_invocation_page_bytes`` and
    ``invocation_timeout`` are accepted for compatibility with AWS's runner: pages are
    bounded by count (100 operations), and an invocation is not cut short.
    """

    def __init__(  # noqa: PLR0917 (AWS's signature)
        self,
        handler: Callable[..., Any],
        poll_interval: float = 1.0,
        max_invocation_page_bytes: int | None = None,
        execution_timeout: int = 300,
        invocation_timeout: int = 900,
        store: LocalService | str | os.PathLike[str] | None = None,
        skip_time: bool = True,
        region: str = "us-west-2",
    ) -> None:
        self._handler = handler
        self.poll_interval = poll_interval
        self._execution_timeout = execution_timeout
        self._invocation_timeout = invocation_timeout
        self._skip_time = skip_time
        self._owns_service = not isinstance(store, LocalService)
        self._service = (
            store
            if isinstance(store, LocalService)
            else LocalService(store, region=region, account_id="123456789012")
        )
        self._durable: dict[str, tuple[Callable[..., Any], int]] = {}
        self._plain: dict[str, Callable[..., Any]] = {}
        self._drives: dict[str, _Drive] = {}
        self._lock = threading.Lock()
        self._history_grew = threading.Event()
        self._service.add_listener(lambda _arn, _event: self._history_grew.set())
        self._closed = False

    @property
    def service(self) -> LocalService:
        """The embedded service the executions live in (for history, stops, inspection)."""
        return self._service

    # -- chained-invoke targets ------------------------------------------------------------

    def register_durable_function(
        self,
        function_name: str,
        handler: Callable[..., Any],
        execution_timeout: int = DEFAULT_CHILD_EXECUTION_TIMEOUT_SECONDS,
        retention_period_days: int = DEFAULT_CHILD_RETENTION_PERIOD_DAYS,
    ) -> DurableFunctionTestRunner:
        """Make ``ctx.invoke(function_name, ...)`` run ``handler`` as its own execution."""
        self._plain.pop(function_name, None)
        self._durable[function_name] = (handler, execution_timeout)
        return self

    def register_function(
        self, function_name: str, handler: Callable[..., Any]
    ) -> DurableFunctionTestRunner:
        """Make ``ctx.invoke(function_name, ...)`` call ``handler(payload, context)`` once."""
        self._durable.pop(function_name, None)
        self._plain[function_name] = handler
        return self

    # -- running ---------------------------------------------------------------------------

    def run(  # noqa: PLR0917 (AWS's signature)
        self,
        input: Any = None,
        execution_timeout: int | None = None,
        timeout: int | None = None,
        function_name: str = "test-function",
        execution_name: str = "execution-name",
        account_id: str = "123456789012",
        tenant_id: str | None = None,
    ) -> DurableFunctionTestResult:
        """Start an execution and wait for its end; ``timeout`` is the older name of
        ``execution_timeout``."""
        effective = self._timeout(execution_timeout, timeout)
        arn = self.run_async(
            input=input,
            execution_timeout=effective,
            function_name=function_name,
            execution_name=execution_name,
            account_id=account_id,
            tenant_id=tenant_id,
        )
        return self.wait_for_result(arn, timeout=effective + _RESULT_GRACE_SECONDS)

    def run_async(  # noqa: PLR0917 (AWS's signature)
        self,
        input: Any = None,
        execution_timeout: int | None = None,
        timeout: int | None = None,
        function_name: str = "test-function",
        execution_name: str = "execution-name",
        account_id: str = "123456789012",
        tenant_id: str | None = None,
    ) -> str:
        """Start an execution and drive it in the background; its ARN.

        ``account_id`` and ``tenant_id`` are accepted for compatibility; the execution
        belongs to the runner's service account.
        """
        if self._closed:
            raise DurableFunctionsTestError("This runner is closed; create a new one.")
        effective = self._timeout(execution_timeout, timeout)
        runner = self._local_runner(function_name)
        payload = normalize_input(input)
        arn = self._start(runner, function_name, payload, execution_name, effective)
        drive = _Drive(arn)
        drive.thread = threading.Thread(
            target=self._drive, args=(runner, drive), name=f"durable-test-{arn[-8:]}", daemon=True
        )
        with self._lock:
            self._drives[arn] = drive
        drive.thread.start()
        return arn

    def wait_for_result(self, execution_arn: str, timeout: int = 60) -> DurableFunctionTestResult:
        """Wait until the execution has ended; its result. TimeoutError if it runs on."""
        drive = self._drives.get(execution_arn)
        if drive is not None:
            if not drive.done.wait(timeout):
                raise TimeoutError("Execution did not complete within timeout")
            if drive.failure is not None:
                raise DurableFunctionsTestError(
                    f"Driving execution {execution_arn} failed: {drive.failure!r}"
                ) from drive.failure
        else:
            self._wait_ended_elsewhere(execution_arn, timeout)
        record = self._service.get_execution(execution_arn)
        return DurableFunctionTestResult.from_execution(
            record, self._service.get_operations(execution_arn)
        )

    # -- callbacks -------------------------------------------------------------------------

    def wait_for_callback(
        self, execution_arn: str, name: str | None = None, timeout: int = 60
    ) -> str:
        """The id of an open callback (the named one, or the latest) once its
        invocation has ended; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self._history_grew.clear()
            try:
                events = self.get_execution_history(execution_arn).events
            except ExecutionNotFoundError:
                events = []
            callback_id = callback_id_from_events(events, name)
            if callback_id:
                return callback_id
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"Callback did not become available within {timeout}s "
                    f"(elapsed: {timeout - left:.1f}s)."
                )
            self._history_grew.wait(min(self.poll_interval, left))

    def send_callback_success(self, callback_id: str, result: bytes | str | None = None) -> None:
        """Complete the callback with ``result`` (its serialized payload); an empty
        payload is no result, as an empty ``Result`` is at the API."""
        payload = result.decode() if isinstance(result, bytes) else result
        self._service.send_callback_success(callback_id, payload or None)

    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> None:
        self._service.send_callback_failure(callback_id, error)

    def send_callback_heartbeat(self, callback_id: str) -> None:
        self._service.send_callback_heartbeat(callback_id)

    def get_execution_history(
        self,
        execution_arn: str,
        include_execution_data: bool = False,
    ) -> GetDurableExecutionHistoryResponse:
        """The execution's history events (also for a chained invoke's child execution)."""
        events = self._service.get_history(
            execution_arn, include_execution_data=include_execution_data
        )
        return GetDurableExecutionHistoryResponse([Event.from_dict(event) for event in events])

    # -- lifetime --------------------------------------------------------------------------

    def __enter__(self) -> DurableFunctionTestRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop executions that still run, wait for their drivers, release the service."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            drives = list(self._drives.values())
        for drive in drives:
            if drive.done.is_set():
                continue
            with contextlib.suppress(ExecutionNotFoundError):
                self._service.stop_execution(drive.arn)
        for drive in drives:
            if not drive.done.wait(_CLOSE_JOIN_SECONDS):
                logger.warning("Execution %s was still being driven at close", drive.arn)
        if self._owns_service and all(drive.done.is_set() for drive in drives):
            self._service.close()

    # -- plumbing --------------------------------------------------------------------------

    def _timeout(self, execution_timeout: int | None, timeout: int | None) -> int:
        if execution_timeout is not None:
            return execution_timeout
        if timeout is not None:
            return timeout
        return self._execution_timeout

    def _local_runner(self, function_name: str) -> LocalRunner:
        durable = {name: handler for name, (handler, _) in self._durable.items()}
        durable[function_name] = self._handler
        plain = {name: fn for name, fn in self._plain.items() if name != function_name}
        runner = LocalRunner(
            self._service,
            durable,
            plain_functions=plain,
            fast_forward=self._skip_time,
            child_execution_timeout_seconds=DEFAULT_CHILD_EXECUTION_TIMEOUT_SECONDS,
            fast_forward_timeout=False,
        )
        for name, (_, child_timeout) in self._durable.items():
            if name != function_name:
                self._service.register_function(
                    name, durable=True, execution_timeout_seconds=child_timeout
                )
        return runner

    def _start(
        self, runner: LocalRunner, function_name: str, payload: str, name: str, timeout: int
    ) -> str:
        """Start under ``name``, or ``name-2``, ``name-3``... when a run took it already."""
        candidate, suffix = name, 1
        while True:
            try:
                return runner.start(
                    function_name, payload, name=candidate, execution_timeout_seconds=timeout
                )
            except ExecutionNameConflictError:
                suffix += 1
                candidate = f"{name[:56]}-{suffix}"

    def _drive(self, runner: LocalRunner, drive: _Drive) -> None:
        try:
            runner.drive(drive.arn)
        except BaseException as error:
            logger.exception("Driving %s failed", drive.arn)
            drive.failure = error
        finally:
            drive.done.set()

    def _wait_ended_elsewhere(self, arn: str, timeout: int) -> None:
        """An execution this runner did not start (a chained child): poll until it ends."""
        deadline = time.monotonic() + timeout
        while not self._service.get_execution(arn).is_terminal:
            if time.monotonic() >= deadline:
                raise TimeoutError("Execution did not complete within timeout")
            self._history_grew.clear()
            self._history_grew.wait(min(self.poll_interval, max(0.0, deadline - time.monotonic())))


class DurableChildContextTestRunner(DurableFunctionTestRunner):
    """Test a ``@durable_with_child_context`` function on its own.

    ``DurableChildContextTestRunner(fn, *args, **kwargs).run()`` runs ``fn(*args,
    **kwargs)`` against the root context of a fresh execution.
    """

    def __init__(
        self,
        context_function: Callable[Concatenate[DurableContext, P], Any],
        *args: Any,
        skip_time: bool = True,
        **kwargs: Any,
    ) -> None:
        from durable_mp.execution import durable_execution

        bound = context_function(*args, **kwargs)

        @durable_execution
        def handler(event: Any, context: DurableContext) -> Any:
            return bound(context)

        super().__init__(handler, skip_time=skip_time)
