"""The coordinator of a map or parallel: which branch starts when, and when it is done.

It runs on the batch's own thread and owns every branch's state; branches run on task
threads and tell it they finished through a :class:`~durable_mp.engine.manager.Mailbox`.
It takes their outcomes **one at a time**, in the order they finished, and refills the
freed slot before it takes the next, so branches finishing together never meet the
completion config before the branch that slot would start (the official SDK's order).

Branches start in index order while

* fewer than ``max_concurrency`` are in flight (started, not finished -- a branch waiting
  on the service keeps its slot), and
* with no ``max_concurrency``, fewer than :data:`BUSY_BRANCHES` are *busy*: have an
  active context (a branch waiting on a callback, a timer or an invoke is not busy).
  This bounds the threads a map of 10,000 CPU items needs, yet never leaves a branch
  unstarted while the others wait: the branch going quiet wakes the coordinator (under
  the manager's lock, before the invocation could suspend).

A branch whose checkpoint already holds its outcome (a replay) runs nothing and needs no
thread: the coordinator reads it inline. Once the completion config is met nothing more
starts, and branches still running are orphaned: they may finish the body they are in,
but nothing they do afterwards is checkpointed.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from durable_mp.concurrency.completion import BatchItemStatus, CompletionItemStatus
from durable_mp.concurrency.models import BatchItem, BatchResult, CompletionPolicy, CompletionReason
from durable_mp.config import NestingType
from durable_mp.engine.activity import ActiveContext, BranchActivity, current_context
from durable_mp.engine.batch_branches import (
    Batch,
    Branch,
    branch_identifier,
    is_fatal,
    item_error,
    run_branch,
)
from durable_mp.engine.manager import ROOM, Mailbox

if TYPE_CHECKING:
    from durable_mp.engine.ids import OperationIdentifier
    from durable_mp.engine.operation_context import OperationContext

# Without max_concurrency, at most this many branches of one batch are busy at once.
# Branch threads mostly wait for a worker process or the checkpoint call; more of them
# buy nothing but memory (each costs ~40 KB resident).
BUSY_BRANCHES = 64

_Finished = tuple[Branch, Any, BaseException | None]


class Coordinator:
    """Starts the branches of one batch and gathers their outcomes; see the module."""

    def __init__(
        self, batch_ctx: OperationContext, identifier: OperationIdentifier, batch: Batch
    ) -> None:
        self.ctx = batch_ctx
        self.identifier = identifier
        self.batch = batch
        self.scope = batch_ctx.scope
        self.policy = CompletionPolicy.from_config(len(batch.branches), batch.completion_config)
        self.mailbox: Mailbox[_Finished] = Mailbox()
        self.busy = 0  # BatchActivity: branches with an active context (manager's lock)
        self._pending = deque(batch.branches)
        self._in_flight: dict[int, Branch] = {}
        self._limit = batch.max_concurrency or len(batch.branches)
        self._busy_limit = batch.max_concurrency or BUSY_BRANCHES
        caller = current_context()
        self._outer = caller.branch if caller is not None else None

    # -- BatchActivity ----------------------------------------------------------------------

    def branch_went_quiet(self) -> object | None:
        """Under the manager's lock: wake the coordinator if it waits and can start one."""
        return self.mailbox if self.mailbox.reader is not None and self._has_room() else None

    def _has_room(self) -> bool:
        return (
            bool(self._pending)
            and len(self._in_flight) < self._limit
            and self.busy < self._busy_limit
        )

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> BatchResult[Any]:
        if not self.batch.branches:
            return BatchResult([], CompletionReason.ALL_COMPLETED)
        manager = self.scope.manager
        succeeded = failed = 0
        decision = self.policy.decide(0, 0, self._snapshot())
        while not self.policy.is_complete(succeeded, failed, decision):
            finished: _Finished | None = None
            if self._has_room():
                finished = self._start(self._pending.popleft())
            elif self._in_flight:
                message = manager.take(self.mailbox, ready=self._has_room)
                if message is not None and message is not ROOM:
                    finished = message
            else:
                break  # nothing in flight and nothing left to start
            if finished is None:
                continue
            branch, value, error = finished
            self._in_flight.pop(branch.index, None)
            branch.done, branch.value, branch.error = True, value, error
            if error is not None and is_fatal(error):
                raise error
            if error is None:
                succeeded += 1
            else:
                failed += 1
            decision = self.policy.decide(succeeded, failed, self._snapshot())
        reason = self.policy.reason(succeeded, failed, decision)
        for branch in self._in_flight.values():  # early completion: orphaned
            identifier = branch_identifier(self.ctx, self.identifier, self.batch, branch)
            self.scope.orphans.add(identifier.operation_id)
        return BatchResult(self._items(), reason)

    def _start(self, branch: Branch) -> _Finished | None:
        """Start ``branch``; its outcome at once if its checkpoint already holds it."""
        branch.started = True
        self.batch.started.append(branch)
        if self._replayable(branch):
            try:
                return branch, run_branch(self.ctx, self.identifier, self.batch, branch), None
            except BaseException as error:
                return branch, None, error
        manager = self.scope.manager
        activity = BranchActivity(self, self._outer)
        name = f"{self.identifier.path}-{branch.index}-branch [{branch.name}]"
        context = ActiveContext(name, activity)
        manager.register(context)  # ordering 1: active before it is submitted
        self._in_flight[branch.index] = branch
        mailbox = self.mailbox

        def drive() -> None:
            try:
                value = run_branch(self.ctx, self.identifier, self.batch, branch)
            except BaseException as error:
                manager.post(mailbox, (branch, None, error), completing=context)
            else:
                manager.post(mailbox, (branch, value, None), completing=context)

        self.scope.tasks.spawn(context, drive)
        return None

    def _replayable(self, branch: Branch) -> bool:
        """The branch's CONTEXT checkpoint holds its outcome: nothing of it runs again."""
        if self.batch.nesting is not NestingType.NESTED:
            return False
        identifier = branch_identifier(self.ctx, self.identifier, self.batch, branch)
        op = self.scope.manager.get(identifier.operation_id)
        if op is None or not op.is_terminal:
            return False
        details = op.context_details
        return not (details is not None and details.replay_children)

    # -- results --------------------------------------------------------------------------

    def _snapshot(self) -> tuple[CompletionItemStatus, ...]:
        if self.policy.should_complete is None:
            return ()
        return tuple(
            CompletionItemStatus(branch.index, branch.custom_name, _status(branch))
            for branch in self.batch.branches
        )

    def _items(self) -> list[BatchItem[Any]]:
        items: list[BatchItem[Any]] = []
        for branch in sorted(self.batch.started, key=lambda b: b.index):
            if not branch.done:
                items.append(BatchItem(branch.index, BatchItemStatus.STARTED))
            elif branch.error is None:
                items.append(BatchItem(branch.index, BatchItemStatus.SUCCEEDED, branch.value))
            else:
                error = item_error(branch.error)
                items.append(BatchItem(branch.index, BatchItemStatus.FAILED, error=error))
        return items


def _status(branch: Branch) -> BatchItemStatus | None:
    if not branch.started:
        return None
    if not branch.done:
        return BatchItemStatus.STARTED
    return BatchItemStatus.SUCCEEDED if branch.error is None else BatchItemStatus.FAILED
