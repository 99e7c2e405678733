"""A 10,000-operation execution for the console's load test, made in a second or two.

It goes through the real local service and store (checkpoints, history, body runs), but
the checkpoints are sent by hand instead of by a handler, because running 5,000 map
items through the engine takes ~10 s of CI time and tests nothing more here. The shape
is what ``ctx.map`` over 5,000 items with one step each makes: a Map context, 5,000
iterations, one step in each, whose bodies ran on two worker processes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from durable_mp.lambda_service import OperationUpdate
from durable_mp.local import LocalService

if TYPE_CHECKING:
    from pathlib import Path

ITEMS = 5_000
BATCH = 500  # updates per checkpoint


@dataclass(frozen=True)
class _Run:
    executor: str
    pid: int
    thread: str
    started_at: float
    ended_at: float


def _update(op_id: str, kind: str, action: str, **fields: Any) -> OperationUpdate:
    return OperationUpdate.from_dict({"Id": op_id, "Type": kind, "Action": action, **fields})


def make_big_execution(path: Path, name: str = "big-map") -> int:
    """Write the execution into the store at ``path``; returns its operation count."""
    service = LocalService(path)
    try:
        record = service.start_execution("big_map", '{"items": 5000}', name=name)
        invocation = service.begin_invocation(record.arn)
        token = invocation.event.checkpoint_token

        def send(updates: list[OperationUpdate]) -> None:
            nonlocal token
            output = service.checkpoint(record.arn, token, updates, None)
            token = output.checkpoint_token or token

        send([_update("map", "CONTEXT", "START", SubType="Map", Name="big")])
        pending: list[OperationUpdate] = []
        lane_free = {31001: time.time(), 31002: time.time()}
        for index in range(ITEMS):
            item, step = f"map-{index}", f"map-{index}-step"
            pending += [
                _update(item, "CONTEXT", "START", SubType="MapIteration", ParentId="map",
                        Name=f"map-item-{index}"),
                _update(step, "STEP", "START", SubType="Step", ParentId=item, Name=f"s{index}"),
            ]
            pid = 31001 + index % 2
            began = max(lane_free[pid], time.time())
            lane_free[pid] = began + 0.0004
            service.record_body_run(
                record.arn, step, 1, _Run("process", pid, "MainThread", began, began + 0.0003)
            )
            pending += [
                _update(step, "STEP", "SUCCEED", SubType="Step", Payload=str(index)),
                _update(item, "CONTEXT", "SUCCEED", SubType="MapIteration", Payload=str(index)),
            ]
            if len(pending) >= BATCH:
                send(pending)
                pending = []
        pending += [
            _update("map", "CONTEXT", "SUCCEED", SubType="Map", Payload='"done"'),
            _update("execution-result", "EXECUTION", "SUCCEED", Payload=str(ITEMS)),
        ]
        send(pending)
        service.complete_invocation(invocation, output={"Status": "SUCCEEDED", "Result": "5000"})
        return len(service.get_operations(record.arn))
    finally:
        service.close()
