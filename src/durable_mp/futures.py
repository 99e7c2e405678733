"""DurableFuture: the eventual result of an operation started with ``*_async``.

``result()`` blocks the calling context, which counts as inactive while it waits: when
nothing else can make progress the invocation suspends, and on the next invocation the
future resolves from the checkpoint without running anything again.

A future captured by a step body that runs in a worker process can be awaited there too:
it travels as a handle, and ``result()`` asks the parent over the worker's pipe. The
worker does not hold a CPU slot meanwhile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from durable_mp.exceptions import ValidationError
from durable_mp.workers.protocol import AwaitRequest, DoneQuery, Suspension

if TYPE_CHECKING:
    from collections.abc import Sequence

    from durable_mp.engine.manager import Completion, ExecutionManager

T = TypeVar("T")


class DurableFuture(Generic[T]):
    """Returned by ``ctx.step_async`` and ``ctx.wait_async``."""

    def __init__(
        self, manager: ExecutionManager, completion: Completion[T], handle: str, label: str
    ) -> None:
        self._manager = manager
        self._completion = completion
        self._handle = handle
        self._label = label

    def result(self) -> T:
        """The operation's result; raises its error (e.g. StepError) if it failed.

        Instrumentation sees the operation end (``on_operation_end``) before the result
        reaches the caller, as for an operation awaited at once.
        """
        try:
            return self._manager.wait_for_completion(self._completion)
        finally:
            if self._completion.done:  # not when the invocation suspended meanwhile
                self._manager.observed(self._handle)

    def done(self) -> bool:
        """True once the result (or error) is known; never blocks."""
        return self._completion.done

    @property
    def label(self) -> str:
        return self._label

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"<DurableFuture {self._label} {state}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteDurableFuture, (self._handle, self._label))


class RemoteDurableFuture(Generic[T]):
    """A DurableFuture inside a worker process: waits by asking the parent."""

    def __init__(self, handle: str, label: str) -> None:
        self._handle = handle
        self._label = label

    def result(self) -> T:
        return _remote_wait((self._handle,))  # type: ignore[no-any-return]

    def done(self) -> bool:
        return bool(_request(DoneQuery((self._handle,))))

    def __repr__(self) -> str:
        return f"<DurableFuture {self._label} (in a worker)>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteDurableFuture, (self._handle, self._label))


class RemoteCallback(RemoteDurableFuture[T]):
    """A Callback inside a worker process: its id, and a result awaited through the parent."""

    def __init__(self, handle: str, label: str, callback_id: str) -> None:
        super().__init__(handle, label)
        self.callback_id = callback_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteCallback, (self._handle, self._label, self.callback_id))


AnyFuture = DurableFuture[Any] | RemoteDurableFuture[Any]


def all_of(*futures: AnyFuture) -> list[Any]:
    """Wait for every future; their results in argument order.

    Waiting counts as one inactive context. If any future failed, the first failure in
    argument order is raised once all are done.
    """
    local, remote = _split(futures)
    if remote:
        return [_remote_wait((future._handle,)) for future in remote]
    if not local:
        return []
    manager = local[0]._manager
    pending = [future._completion for future in local]
    while True:
        pending = [completion for completion in pending if not completion.done]
        if not pending:
            break
        manager.wait_for_any(pending)
    for future in local:
        manager.observed(future._handle)
    return [future._completion.outcome() for future in local]


def any_of(*futures: AnyFuture) -> Any:
    """The result of whichever future completes first (or its error)."""
    if not futures:
        raise ValidationError("any_of() needs at least one future")
    local, remote = _split(futures)
    if remote:
        return _remote_wait(tuple(future._handle for future in remote))
    manager = local[0]._manager
    done = manager.wait_for_any([future._completion for future in local])
    for future in local:
        if future._completion is done:
            manager.observed(future._handle)
    return done.outcome()


def _split(
    futures: Sequence[AnyFuture],
) -> tuple[list[DurableFuture[Any]], list[RemoteDurableFuture[Any]]]:
    local = [f for f in futures if isinstance(f, DurableFuture)]
    remote = [f for f in futures if isinstance(f, RemoteDurableFuture)]
    if local and remote:
        raise ValidationError("cannot mix futures of a worker process with local ones")
    if len(local) + len(remote) != len(futures):
        raise ValidationError("all_of/any_of take DurableFuture objects only")
    managers = {id(f._manager) for f in local}
    if len(managers) > 1:
        raise ValidationError("all_of/any_of futures must come from the same execution")
    return local, remote


def _request(body: Any) -> Any:
    from durable_mp.workers.worker import in_worker, request_from_parent

    if not in_worker():
        raise ValidationError(
            "This DurableFuture belongs to a step body in a worker process; it cannot be "
            "awaited anywhere else."
        )
    return request_from_parent(body)


def _remote_wait(handles: tuple[str, ...]) -> Any:
    """The value of the first of ``handles`` to resolve, asked of the parent."""
    reply = _request(AwaitRequest(handles))
    if type(reply) is Suspension:
        raise reply.reason  # the invocation stopped: unwind the body
    if reply.error is not None:
        raise reply.error
    return reply.value
