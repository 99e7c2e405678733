"""Invocations whose runner gave up on them: they write nothing more, like a dead process.

The runner runs invocations on threads. When its drive loop ends abnormally (Ctrl-C, an
exception), those threads live on until the process exits and would otherwise keep
writing: a step interrupted by the worker pool's shutdown must not be recorded as a
failure. Once abandoned, an invocation's service calls fail as a transient service error
(the SDK ends the invocation without touching the execution), and the runner records
the invocations it had begun and not completed as interrupted (not a failure of the
handler), so the next runner invokes again at once.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from durable_mp.exceptions import CheckpointError, GetExecutionStateError
from durable_mp.local.errors import ApiError, api_error
from durable_mp.local.store import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from durable_mp.lambda_service import CheckpointOutput, OperationUpdate, StateOutput
    from durable_mp.local.records import Invocation
    from durable_mp.local.service import BodyRun
    from durable_mp.service_client import DurableServiceClient

_SERVICE_EXCEPTION = "ServiceException"
_GONE = (
    "the local runner driving this execution has stopped; this invocation is abandoned and "
    "runs again when the execution is resumed"
)


class Abandonment:
    """Set once by the drive loop that stops caring about its invocations; knows which
    invocations were begun and not completed."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._unfinished: dict[str, Invocation] = {}  # request id -> invocation
        self._failure: StoreError | None = None

    def fail(self, error: StoreError) -> None:
        """The store failed under an invocation: every invocation stops writing, and the
        drive stops with ``error`` (see :attr:`failure`)."""
        with self._lock:
            self._failure = self._failure or error
            self._event.set()

    @property
    def failure(self) -> StoreError | None:
        return self._failure

    def abandon(self) -> list[Invocation]:
        """Abandon; the invocations begun and not completed (the caller closes them)."""
        with self._lock:
            self._event.set()
            unfinished, self._unfinished = list(self._unfinished.values()), {}
        return unfinished

    @property
    def abandoned(self) -> bool:
        return self._event.is_set()

    def begun(self, invocation: Invocation) -> bool:
        """Track a begun invocation; False if abandoned already (its caller closes it)."""
        with self._lock:
            if self._event.is_set():
                return False
            self._unfinished[invocation.request_id] = invocation
            return True

    def complete(self, invocation: Invocation, record: Callable[[], object]) -> bool:
        """Run ``record`` (which completes ``invocation``) unless abandoned; whether it ran.

        Under the lock, so an invocation is either completed or handed to :meth:`abandon`'s
        caller, never both.
        """
        with self._lock:
            if self._event.is_set():
                return False
            record()
            self._unfinished.pop(invocation.request_id, None)
            return True


class GuardedClient:
    """A service client that refuses every call once ``abandonment`` is set, and sets it
    when the store fails (the SDK then ends the invocation without writing its end)."""

    def __init__(self, client: DurableServiceClient, abandonment: Abandonment) -> None:
        self._client = client
        self._abandonment = abandonment

    def checkpoint(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        client_token: str | None,
    ) -> CheckpointOutput:
        self._refuse_if_abandoned(CheckpointError)
        try:
            return self._client.checkpoint(
                durable_execution_arn, checkpoint_token, updates, client_token
            )
        except StoreError as error:
            raise self._store_failed(CheckpointError, error) from error

    def get_execution_state(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        next_marker: str,
        max_items: int = 1000,
    ) -> StateOutput:
        self._refuse_if_abandoned(GetExecutionStateError)
        try:
            return self._client.get_execution_state(
                durable_execution_arn, checkpoint_token, next_marker, max_items
            )
        except StoreError as error:
            raise self._store_failed(GetExecutionStateError, error) from error

    def record_body_run(
        self, durable_execution_arn: str, operation_id: str, attempt: int, run: BodyRun
    ) -> None:
        """Passed on to a client that records body runs, unless abandoned (an abandoned
        invocation writes nothing more, its body runs included)."""
        record = getattr(self._client, "record_body_run", None)
        if record is not None and not self._abandonment.abandoned:
            record(durable_execution_arn, operation_id, attempt, run)

    def _refuse_if_abandoned(self, kind: type[ApiError]) -> None:
        if self._abandonment.abandoned:
            raise api_error(kind, _GONE, code=_SERVICE_EXCEPTION, status=503)

    def _store_failed(self, kind: type[ApiError], error: StoreError) -> ApiError:
        self._abandonment.fail(error)
        return api_error(kind, f"{_GONE} ({error})", code=_SERVICE_EXCEPTION, status=503)
