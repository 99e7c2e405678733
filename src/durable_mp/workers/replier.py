"""The ``reply`` callable handed to a job's ``on_request`` handler.

A request can reach the handler before ``submit()`` has returned the job's future to
the thread that submitted it, so the reply carries that future: the handler can call
``pool.mark_blocked(reply.future)`` without racing the submitter.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import cloudpickle

from durable_mp.workers import errors, protocol

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from durable_mp.workers.job import JobResult


class Replier:
    """Answer one request: call once, from any thread; later calls are ignored.

    The answer is dropped if the job has ended (or its worker died) meanwhile.
    """

    __slots__ = ("_current", "_label", "_request_id", "_send", "_used", "future")

    def __init__(
        self,
        future: Future[JobResult] | None,
        label: str,
        request_id: int,
        current: Callable[[], bool],
        send: Callable[[protocol.Message], bool],
    ) -> None:
        self.future = future  # None for a stray request from a job that already ended
        self._label = label
        self._request_id = request_id
        self._current = current
        self._send = send
        self._used = threading.Lock()

    def __call__(self, value: Any) -> None:
        if not self._used.acquire(blocking=False):
            return
        try:
            blob = cloudpickle.dumps(value)
        except Exception as exc:
            blob = cloudpickle.dumps(errors.reply_unpicklable(self._label, repr(exc)))
        if self._current():
            self._send((protocol.REPLY, self._request_id, blob))
