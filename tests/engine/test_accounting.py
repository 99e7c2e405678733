"""Active-context accounting: the three orderings and the suspension rule (docs/architecture.md, rule 4)."""

from __future__ import annotations

import logging
import threading

import pytest

from durable_mp.engine.activity import ActiveContext, acting_as
from durable_mp.engine.manager import Completion, ExecutionManager
from durable_mp.exceptions import InternalInvariantError, SuspendExecution
from durable_mp.lambda_service import Operation, OperationStatus, OperationType

ARN = "arn:aws:lambda:local:000000000000:function:f:$LATEST/durable-execution/n/x"


def wait_op(status=OperationStatus.STARTED) -> Operation:
    return Operation("w", OperationType.WAIT, status)


def test_hand_off_never_passes_through_zero(caplog):
    manager = ExecutionManager(ARN)
    root, step = ActiveContext("root"), ActiveContext("1-step")
    manager.register(root)
    with caplog.at_level(logging.DEBUG, logger="durable_mp.engine.manager"):
        manager.hand_off(step, root)
        manager.hand_off(root, step)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Registered context '1-step' as active. Active contexts: 2",
        "Deregistered context 'root'. Active contexts: 1",
        "Registered context 'root' as active. Active contexts: 2",
        "Deregistered context '1-step'. Active contexts: 1",
    ]
    assert manager.stop_reason is None


def test_waiting_on_the_service_alone_suspends():
    manager = ExecutionManager(ARN, [wait_op()])
    root = ActiveContext("root")
    manager.register(root)
    with acting_as(root), pytest.raises(SuspendExecution):
        manager.wait_for_operation("w", lambda op: op is not None and op.is_terminal)
    assert isinstance(manager.stop_reason, SuspendExecution)


def test_service_update_wakes_waiter_re_registered_before_wake():
    manager = ExecutionManager(ARN, [wait_op()])
    root, busy = ActiveContext("root"), ActiveContext("busy")
    manager.register(root)
    manager.register(busy)  # keeps the invocation alive while root waits
    got: list[object] = []

    def waiter():
        with acting_as(root):
            got.append(
                manager.wait_for_operation("w", lambda op: op is not None and op.is_terminal)
            )
            got.append(manager.active_count)

    thread = threading.Thread(target=waiter)
    thread.start()
    while manager.active_count != 1:
        pass
    manager.apply_operations([wait_op(OperationStatus.SUCCEEDED)])
    thread.join(5)
    assert got[0].status is OperationStatus.SUCCEEDED
    assert got[1] == 2  # root was active again before it woke


def test_completion_hand_off_reregisters_waiter_first(caplog):
    manager = ExecutionManager(ARN)
    root, producer = ActiveContext("root"), ActiveContext("2-step")
    manager.register(root)
    manager.register(producer)
    completion: Completion[int] = Completion("2-step")
    result: list[int] = []

    def consumer():
        with acting_as(root):
            result.append(manager.wait_for_completion(completion))

    thread = threading.Thread(target=consumer)
    with caplog.at_level(logging.DEBUG, logger="durable_mp.engine.manager"):
        thread.start()
        while manager.active_count != 1:
            pass
        manager.complete(completion, value=42, completing=producer)
        thread.join(5)
    assert result == [42]
    lines = [r.getMessage() for r in caplog.records]
    assert lines[-2:] == [
        "Registered context 'root' as active. Active contexts: 2",
        "Deregistered context '2-step'. Active contexts: 1",
    ]
    assert manager.stop_reason is None


def test_nothing_active_and_nothing_pending_is_an_internal_error():
    manager = ExecutionManager(ARN)
    root = ActiveContext("root")
    manager.register(root)
    orphan: Completion[int] = Completion("never completed")
    with acting_as(root), pytest.raises(InternalInvariantError, match="never progress"):
        manager.wait_for_completion(orphan)


def test_suspension_wakes_every_waiter():
    manager = ExecutionManager(ARN, [wait_op()])
    contexts = [ActiveContext(f"c{i}") for i in range(4)]
    for context in contexts:
        manager.register(context)
    outcomes: list[str] = []

    def wait(context):
        with acting_as(context):
            try:
                manager.wait_for_operation("w", lambda op: op is not None and op.is_terminal)
            except SuspendExecution:
                outcomes.append("suspended")

    threads = [threading.Thread(target=wait, args=(c,)) for c in contexts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert outcomes == ["suspended"] * 4


def test_waiting_without_a_context_is_refused():
    manager = ExecutionManager(ARN, [wait_op()])
    with pytest.raises(InternalInvariantError, match="no durable context"):
        manager.wait_for_operation("w", lambda op: False)
