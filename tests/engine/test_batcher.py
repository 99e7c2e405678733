"""CheckpointBatcher: batching, token chaining, paging, error delivery, one call in flight."""

from __future__ import annotations

import threading
import time

import pytest

from durable_mp.engine.batcher import BatcherLimits, CheckpointBatcher
from durable_mp.engine.manager import ExecutionManager
from durable_mp.exceptions import (
    BackgroundThreadError,
    CheckpointError,
    DurableApiErrorCategory,
    SuspendExecution,
)
from durable_mp.lambda_service import (
    CheckpointOutput,
    CheckpointUpdatedExecutionState,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StateOutput,
)

ARN = "arn:aws:lambda:local:000000000000:function:f:$LATEST/durable-execution/n/x"


def update(i: int, action=OperationAction.START, payload: str | None = None) -> OperationUpdate:
    return OperationUpdate(f"op{i}", OperationType.STEP, action, payload=payload)


class ScriptedClient:
    """Records every call; answers with the next token and the touched operations."""

    def __init__(self, *, latency: float = 0.0, pages: list[list[Operation]] | None = None) -> None:
        self.latency = latency
        self.calls: list[tuple[str, list[OperationUpdate]]] = []
        self.state_calls: list[tuple[str, str]] = []
        self.pages = pages or []
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail_with: BaseException | None = None
        self.omit_token = False
        self._lock = threading.Lock()

    def checkpoint(self, arn, token, updates, client_token):
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.latency)
            self.calls.append((token, list(updates)))
            if self.fail_with is not None:
                raise self.fail_with
            ops = [
                Operation(u.operation_id, u.operation_type, OperationStatus.STARTED)
                for u in updates
            ]
            marker = "page-1" if self.pages else None
            new_token = None if self.omit_token else f"token-{len(self.calls)}"
            return CheckpointOutput(new_token, CheckpointUpdatedExecutionState(ops, marker))
        finally:
            with self._lock:
                self.in_flight -= 1

    def get_execution_state(self, arn, token, marker, max_items=1000):
        self.state_calls.append((token, marker))
        index = int(marker.split("-")[1]) - 1
        next_marker = f"page-{index + 2}" if index + 1 < len(self.pages) else None
        return StateOutput(self.pages[index], next_marker)


def make(client, **limits) -> tuple[CheckpointBatcher, ExecutionManager]:
    manager = ExecutionManager(ARN)
    batcher = CheckpointBatcher(client, manager, "token-0", limits=BatcherLimits(**limits))
    batcher.start()
    return batcher, manager


def test_async_start_and_sync_succeed_share_one_call():
    client = ScriptedClient()
    batcher, _ = make(client)
    batcher.checkpoint_async(update(1))
    batcher.checkpoint(update(1, OperationAction.SUCCEED, "1"))
    batcher.stop()
    assert len(client.calls) == 1
    assert [u.action for u in client.calls[0][1]] == [
        OperationAction.START,
        OperationAction.SUCCEED,
    ]


def test_tokens_chain_from_response_to_next_call():
    client = ScriptedClient()
    batcher, _ = make(client)
    for i in range(3):
        batcher.checkpoint(update(i))
    batcher.stop()
    assert [token for token, _ in client.calls] == ["token-0", "token-1", "token-2"]


def test_limits_split_batches():
    client = ScriptedClient(latency=0.05)
    batcher, _ = make(client, max_updates=250)
    for i in range(600):
        batcher.checkpoint_async(update(i))
    batcher.stop()
    sizes = [len(updates) for _, updates in client.calls]
    assert sum(sizes) == 600 and max(sizes) <= 250

    client = ScriptedClient(latency=0.05)
    batcher, _ = make(client)
    payload = "z" * (300 * 1024)
    for i in range(5):
        batcher.checkpoint_async(update(i, OperationAction.SUCCEED, payload))
    batcher.stop()
    sizes = [len(updates) for _, updates in client.calls]
    assert sum(sizes) == 5 and max(sizes) <= 2  # 750 KB fits two 300 KB payloads


def test_one_call_in_flight_with_many_threads():
    client = ScriptedClient(latency=0.01)
    batcher, _ = make(client)
    threads = [threading.Thread(target=batcher.checkpoint, args=(update(i),)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.stop()
    assert client.max_in_flight == 1
    assert sum(len(u) for _, u in client.calls) == 20
    assert len(client.calls) < 20  # callers that arrived during a call were batched


def test_next_marker_pages_are_fetched_with_new_token_before_waking():
    extra = [
        Operation(f"paged{i}", OperationType.WAIT, OperationStatus.SUCCEEDED) for i in range(3)
    ]
    client = ScriptedClient(pages=[[extra[0]], [extra[1], extra[2]]])
    batcher, manager = make(client)
    batcher.checkpoint(update(1))
    # the caller is released only after every page was merged
    assert all(manager.get(f"paged{i}") is not None for i in range(3))
    assert client.state_calls == [("token-1", "page-1"), ("token-1", "page-2")]
    batcher.stop()


def test_api_error_reaches_every_waiter_and_later_callers():
    error = CheckpointError("throttled", DurableApiErrorCategory.INVOCATION)
    client = ScriptedClient(latency=0.05)
    client.fail_with = error
    batcher, manager = make(client)
    seen: list[BaseException] = []

    def call(i):
        try:
            batcher.checkpoint(update(i))
        except BaseException as caught:
            seen.append(caught)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 5
    assert all(isinstance(e, BackgroundThreadError) and e.source_exception is error for e in seen)
    with pytest.raises(BackgroundThreadError):
        batcher.checkpoint(update(99))
    assert isinstance(manager.stop_reason, BackgroundThreadError)
    batcher.stop()


def test_missing_token_without_terminal_update_suspends():
    client = ScriptedClient()
    client.omit_token = True
    batcher, manager = make(client)
    with pytest.raises(SuspendExecution):
        batcher.checkpoint(update(1))
    assert isinstance(manager.stop_reason, SuspendExecution)
    batcher.stop()


def test_scheduled_refresh_sends_empty_checkpoint():
    client = ScriptedClient()
    batcher, _ = make(client)
    batcher.schedule_refresh(time.time() + 0.05)
    deadline = time.time() + 5
    while not client.calls and time.time() < deadline:
        time.sleep(0.01)
    batcher.stop()
    assert client.calls and client.calls[0][1] == []
    assert batcher.stats.refreshes == 1


def test_stop_flushes_queued_async_updates():
    client = ScriptedClient()
    batcher, _ = make(client, linger_seconds=5.0)
    batcher.checkpoint_async(update(1))
    batcher.stop()
    assert [u.operation_id for _, updates in client.calls for u in updates] == ["op1"]
