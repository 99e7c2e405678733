"""What a running job's worker says, handled the same whichever thread reads it.

The job's caller reads for a job run with ``WorkerPool.run``; the pool thread for one
run with ``submit``. Either way each message goes through :func:`respond`: a ``Note``
to the job's ``on_message``, a ``Request`` to its ``on_request`` with a :class:`Replier`,
and the job's end (``Returned`` or ``Raised``) becomes its :class:`Outcome`. Messages of
a job that already ended (a thread it left behind) are dropped; a request among them is
answered with an error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cloudpickle

from durable_mp.workers import errors, protocol
from durable_mp.workers.jobs import Replier, outcome_of

if TYPE_CHECKING:
    from durable_mp.workers.jobs import Outcome, WorkItem
    from durable_mp.workers.pool_state import PoolState
    from durable_mp.workers.processes import WorkerHandle

_log = logging.getLogger("durable_mp.workers")


def respond(
    state: PoolState, worker: WorkerHandle, item: WorkItem | None, message: protocol.Message
) -> Outcome | None:
    """Act on ``message`` from ``worker``, which runs ``item`` (None: nothing, as far as the
    reader knows); the job's outcome if the message ends it. ValueError if the message is
    not one a worker sends."""
    kind = type(message)
    if kind is protocol.Returned or kind is protocol.Raised:
        end: protocol.Returned | protocol.Raised = message  # type: ignore[assignment]
        if item is None or end.job_id != item.job_id:
            return None  # the job was already failed (killed, pool shut down)
        return outcome_of(item.job.label, end)
    if kind is protocol.Note:
        note: protocol.Note = message  # type: ignore[assignment]
        _on_note(item if item is not None and note.job_id == item.job_id else None, note)
    elif kind is protocol.Request:
        request: protocol.Request = message  # type: ignore[assignment]
        current = item if item is not None and request.job_id == item.job_id else None
        _on_request(state, worker, current, request)
    else:
        raise ValueError(f"a worker does not send {kind.__name__}")
    return None


def _on_note(item: WorkItem | None, note: protocol.Note) -> None:
    if item is None or item.job.on_message is None:
        return
    try:
        item.job.on_message(cloudpickle.loads(note.body))
    except Exception:
        _log.exception("the on_message handler of %s failed", item.job.label)


def _on_request(
    state: PoolState, worker: WorkerHandle, item: WorkItem | None, request: protocol.Request
) -> None:
    def current() -> bool:
        with state.lock:
            return item is None or worker.item is item

    reply = Replier(item, request.request_id, current, worker.send)
    if item is None:
        reply(errors.job_not_running(None))
        return
    handler = item.job.on_request
    if handler is None:
        reply(errors.no_request_handler(item.job.label))
        return
    try:
        body = cloudpickle.loads(request.body)
    except Exception as exc:
        reply(exc)
        return
    try:
        handler(body, reply)
    except BaseException as exc:
        _log.exception("the on_request handler of %s failed", item.job.label)
        reply(exc)  # ignored if the handler replied before failing
