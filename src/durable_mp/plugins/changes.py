"""The plugin change thread: ``on_operation_change`` in response order, one pending slot.

The checkpoint thread only submits; this thread delivers. A notification submitted while
plugins are still busy with the previous one merges into the single pending one (newest
state of every changed operation, newest full map), so a slow plugin costs at most two
notifications of memory and never delays a checkpoint.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from durable_mp.plugin import OperationChangeInfo

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger("durable_mp.plugins")


def merge(pending: OperationChangeInfo, latest: OperationChangeInfo) -> OperationChangeInfo:
    updated = {
        op_id: latest.operations.get(op_id, info)
        for reported in (pending.updated_operations, latest.updated_operations)
        for op_id, info in reported.items()
    }
    return OperationChangeInfo(latest.execution_arn, updated, latest.operations)


class ChangeThread:
    def __init__(self, deliver: Callable[[OperationChangeInfo], object]) -> None:
        self._deliver = deliver
        self._pending: OperationChangeInfo | None = None
        self._stopping = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name="durable-mp-plugin-change", daemon=True
        )
        try:
            self._thread.start()
        except RuntimeError:
            logger.warning(
                "Could not start the plugin change thread; on_operation_change runs once, "
                "merged, before on_invocation_end",
                exc_info=True,
            )
            self._thread = None

    def submit(self, info: OperationChangeInfo) -> None:
        with self._cond:
            self._pending = info if self._pending is None else merge(self._pending, info)
            self._cond.notify()

    def join(self) -> None:
        """Deliver what is pending and stop (on the caller's thread if there is no thread)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        with self._cond:
            leftover, self._pending = self._pending, None
        if leftover is not None:
            self._deliver(leftover)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                info, self._pending = self._pending, None
            if info is None:
                return
            try:
                self._deliver(info)
            except BaseException:  # a stop request has nobody to stop on this thread
                logger.exception("on_operation_change asked to stop the change thread; ignored")
