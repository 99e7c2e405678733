"""The narrow context an operation runs in.

Every operation module of the engine takes an :class:`OperationContext`: the invocation's
shared :class:`~durable_mp.engine.scope.ExecutionScope`, the identity of the context that
issues the operation (parent id, id counter, readable path, lineage), its logger and its
replay state. The user-facing ``DurableContext`` is a thin facade over one of these, so
nothing in the engine needs (or imports) the public class: the facade wraps a child
context for user code; the engine passes ``OperationContext`` objects only.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

from durable_mp.engine.ids import OperationCounter, OperationIdentifier
from durable_mp.lambda_service import OperationType
from durable_mp.logger import Logger, LogInfo

if TYPE_CHECKING:
    from collections.abc import Iterator

    from durable_mp.engine.scope import ExecutionScope
    from durable_mp.types import LoggerInterface


class OperationContext:
    """One handler or child context, as the operations it issues see it.

    Thread-safe: branches of a map share their batch's context, and a context's
    operations may be issued from several task threads at once.
    """

    def __init__(
        self,
        scope: ExecutionScope,
        *,
        parent_id: str | None = None,
        step_id_prefix: str | None = None,
        path: str = "",
        replaying: bool = False,
        logger: Logger | None = None,
        lineage: tuple[str, ...] = (),
        is_virtual: bool = False,
    ) -> None:
        self.scope = scope
        self.parent_id = parent_id
        self.path = path
        # The ids of every context above this one (its own included): orphaning any of
        # them (a map that completed early) stops everything this context still does.
        self.lineage = lineage
        self.is_virtual = is_virtual
        self._counter = OperationCounter(
            step_id_prefix if step_id_prefix is not None else parent_id, path
        )
        self._replaying = replaying
        self._replay_lock = threading.Lock()
        info = LogInfo(scope.durable_execution_arn, parent_id=parent_id)
        base = logger or Logger.from_log_info(logging.getLogger(), info)
        self.logger: Logger = base.with_log_info(info).with_is_replaying(self.is_replaying)

    @property
    def durable_execution_arn(self) -> str:
        return self.scope.durable_execution_arn

    # -- replay ---------------------------------------------------------------------------

    def is_replaying(self) -> bool:
        """True while this context re-issues operations an earlier invocation completed."""
        with self._replay_lock:
            return self._replaying

    def stop_replaying(self) -> None:
        with self._replay_lock:
            self._replaying = False

    def use_logger(self, logger: LoggerInterface) -> None:
        """Log through ``logger`` (records keep the execution fields and replay silence)."""
        info = LogInfo(self.scope.durable_execution_arn, parent_id=self.parent_id)
        self.logger = Logger.from_log_info(logger, info, self.is_replaying)

    # -- issuing operations ---------------------------------------------------------------

    @contextmanager
    def operation(
        self, operation_type: OperationType, sub_type: str, name: str | None
    ) -> Iterator[OperationIdentifier]:
        """Allocate the next operation id and run the block as that operation.

        Checks the identity against the checkpoint (non-determinism), and moves this
        context from replay to new work at the right moment: brand-new operations and
        steps about to run their body count as new work before they start; a resumed
        non-step operation (a wait that has now elapsed) stays quiet and flips
        afterwards; replay also ends once the next operation has no checkpoint.
        """
        identifier = self._allocate(operation_type, sub_type, name)
        manager = self.scope.manager
        was_replaying = self.is_replaying()
        checkpoint = manager.get(identifier.operation_id)
        identifier.validate_replay(checkpoint)
        if was_replaying and checkpoint is not None:
            self.scope.hooks.reached_on_replay(checkpoint)
        flip_after = False
        if was_replaying:
            is_step = checkpoint is not None and checkpoint.operation_type is OperationType.STEP
            terminal = checkpoint is not None and checkpoint.is_terminal
            if checkpoint is None or (is_step and not terminal):
                self.stop_replaying()
            elif not terminal:
                flip_after = True
        try:
            yield identifier
        finally:
            if flip_after or (
                self.is_replaying() and manager.get(self._counter.peek()) is None
            ):
                self.stop_replaying()

    def _allocate(
        self, operation_type: OperationType, sub_type: str, name: str | None
    ) -> OperationIdentifier:
        self.scope.refuse_orphan(self.lineage)
        operation_id, path = self._counter.next()
        return OperationIdentifier(
            operation_id=operation_id,
            operation_type=operation_type,
            sub_type=sub_type,
            parent_id=self.parent_id,
            name=name,
            path=path,
        )

    def child(
        self, identifier: OperationIdentifier, *, is_virtual: bool = False
    ) -> OperationContext:
        """The context of the CONTEXT operation ``identifier`` (a child, a branch, a batch).

        A virtual child (a FLAT branch) records no operation of its own: its operations
        hang under this context's parent while their ids still derive from ``identifier``.
        """
        return OperationContext(
            self.scope,
            parent_id=self.parent_id if is_virtual else identifier.operation_id,
            step_id_prefix=identifier.operation_id,
            path=identifier.path,
            replaying=self.is_replaying(),
            logger=self.logger,
            lineage=(*self.lineage, identifier.operation_id),
            is_virtual=is_virtual,
        )
