"""Pipelined checkpointing: same results as synchronous mode, and order under failures.

In pipelined mode an at-least-once step's SUCCEED is queued and the handler goes on. The
invariant that keeps it correct: the updates the service accepted are always a prefix of
the updates the invocation issued -- after a failed call nothing later is sent -- so no
acknowledged update can depend on one that was lost. The chain test below would see a
violation: each step's result embeds a fresh random token and the previous step's, so a
step acknowledged after a lost predecessor (which runs again with a new token) leaves a
broken link in the checkpointed results.
"""

from __future__ import annotations

import functools
import json
import random
import secrets
import threading
from typing import Any

import pytest

from durable_mp import Duration, StepConfig, durable_execution
from durable_mp.config import StepSemantics
from durable_mp.exceptions import CheckpointError, ValidationError
from durable_mp.local import LocalRunner, LocalService


def _add(total: int, i: int, _step: Any) -> int:
    return total + i


def _mixed_handler(executor: str, checkpointing: str) -> Any:
    @durable_execution(step_executor=executor, checkpointing=checkpointing)
    def handler(event: Any, ctx: Any) -> Any:
        total = 0
        for i in range(event["steps"]):
            total = ctx.step(functools.partial(_add, total, i), name=f"add-{i}")
        once = ctx.step(
            functools.partial(_add, total, 1000),
            name="at-most-once",
            config=StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY),
        )
        ctx.wait(Duration.from_seconds(1), name="pause")
        child = ctx.run_in_child_context(
            lambda c: c.step(functools.partial(_add, once, 1), name="in-child"), name="child"
        )
        mapped = ctx.map(
            [1, 2, 3],
            lambda c, item, index, items: c.step(functools.partial(_add, item, child)),
            name="map",
        ).get_results()
        return {"total": total, "once": once, "child": child, "mapped": mapped}

    return handler


def _run(handler: Any, event: Any, service: LocalService | None = None) -> tuple[Any, list]:
    service = service or LocalService(invocation_retry_delay=0)
    runner = LocalRunner(service, {"fn": handler}, fast_forward=True)
    record = runner.run("fn", event)
    assert record.status == "SUCCEEDED", record.error
    history = [event["EventType"] for event in service.get_history(record.arn)]
    return json.loads(record.result), history


@pytest.mark.parametrize("executor", ["process", "thread", "inline"])
def test_pipelined_mode_gives_the_same_result_and_history(executor: str) -> None:
    event = {"steps": 12}
    sync_result, sync_history = _run(_mixed_handler(executor, "synchronous"), event)
    piped_result, piped_history = _run(_mixed_handler(executor, "pipelined"), event)
    assert piped_result == sync_result == {
        "total": sum(range(12)),
        "once": sum(range(12)) + 1000,
        "child": sum(range(12)) + 1001,
        "mapped": [sum(range(12)) + 1001 + k for k in (1, 2, 3)],
    }
    assert sorted(piped_history) == sorted(sync_history)


def test_the_environment_chooses_pipelined_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    @durable_execution(step_executor="inline")
    def handler(event: Any, ctx: Any) -> int:
        seen.append(ctx._operations.scope.pipelined)
        return ctx.step(lambda _: 1, name="one")

    monkeypatch.setenv("DURABLE_MP_CHECKPOINTING", "pipelined")
    assert _run(handler, {})[0] == 1
    assert seen[0] is True
    monkeypatch.setenv("DURABLE_MP_CHECKPOINTING", "sometimes")
    with pytest.raises(ValidationError, match="DURABLE_MP_CHECKPOINTING='sometimes'"):
        durable_execution(lambda event, ctx: None)


def test_an_unknown_mode_is_refused_at_decoration() -> None:
    with pytest.raises(ValidationError, match="is not a checkpointing mode"):
        durable_execution(checkpointing="eventually")  # type: ignore[call-overload]


def _link(previous: str, index: int, _step: Any) -> str:
    """A result that embeds a fresh token and the previous step's token."""
    return f"{secrets.token_hex(6)}|{previous.split('|', maxsplit=1)[0]}|{index}"


def _chain_handler(executor: str) -> Any:
    @durable_execution(step_executor=executor, checkpointing="pipelined")
    def handler(event: Any, ctx: Any) -> str:
        value = "start|-|-1"
        for i in range(event["steps"]):
            value = ctx.step(functools.partial(_link, value, i), name=f"link-{i}")
            if i % 7 == 6:
                # a barrier in the middle: everything before must be acknowledged first
                ctx.wait(Duration.from_seconds(1), name=f"barrier-{i}")
        return value

    return handler


class FlakyService(LocalService):
    """Checkpoint calls fail at random: before being applied, or applied with the answer
    lost. An invocation after a failed one gets no faults, so the service's cap of
    consecutive failed invocations is never what ends the execution."""

    def __init__(self, seed: int) -> None:
        super().__init__(invocation_retry_delay=0)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._faults_allowed = True
        self.failures = 0
        self.calls_after_a_failure = 0
        self._failed_this_invocation = False

    def begin_invocation(self, arn: str, **options: Any) -> Any:
        with self._lock:
            self._faults_allowed = not self._failed_this_invocation
            self._failed_this_invocation = False
        return super().begin_invocation(arn, **options)

    def checkpoint(self, arn: str, token: str, updates: Any, client_token: Any = None) -> Any:
        with self._lock:
            if self._failed_this_invocation:
                self.calls_after_a_failure += 1
            fault = (
                self._random.choice(["before", "after"])
                if self._faults_allowed and updates and self._random.random() < 0.2
                else None
            )
            if fault:
                self._failed_this_invocation = True
                self._faults_allowed = False
                self.failures += 1
        if fault == "before":
            raise CheckpointError("injected: throttled before the update was applied")
        output = super().checkpoint(arn, token, updates, client_token)
        if fault == "after":
            raise CheckpointError("injected: connection reset after the update was applied")
        return output


def _stored_results(service: LocalService, arn: str) -> list[str]:
    results = []
    for op in service.get_operations(arn):
        if op.name and op.name.startswith("link-") and op.result is not None:
            results.append((int(op.name.split("-")[1]), json.loads(op.result)))
    return [value for _, value in sorted(results)]


@pytest.mark.parametrize("seed", range(12))
def test_acknowledged_updates_never_depend_on_lost_ones(seed: int) -> None:
    steps = 30
    service = FlakyService(seed)
    runner = LocalRunner(service, {"fn": _chain_handler("thread")}, fast_forward=True)
    record = runner.run("fn", {"steps": steps})
    assert record.status == "SUCCEEDED", record.error
    stored = _stored_results(service, record.arn)
    assert len(stored) == steps
    previous = "start"
    for index, value in enumerate(stored):
        token, parent, number = value.split("|")
        assert (parent, int(number)) == (previous, index), f"broken link at step {index}"
        previous = token
    assert json.loads(record.result) == stored[-1]
    assert service.calls_after_a_failure == 0  # nothing is sent after a failed call
    invocations = [e for e in service.get_history(record.arn) if e["EventType"] == "InvocationCompleted"]
    assert len(invocations) >= 5  # the barriers and the injected failures made several


def test_chain_holds_with_process_steps_too() -> None:
    service = FlakyService(seed=99)
    runner = LocalRunner(service, {"fn": _chain_handler("process")}, fast_forward=True)
    record = runner.run("fn", {"steps": 15})
    assert record.status == "SUCCEEDED", record.error
    stored = _stored_results(service, record.arn)
    links = [value.split("|") for value in stored]
    assert all(links[i][1] == links[i - 1][0] for i in range(1, len(links)))
