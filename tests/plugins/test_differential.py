"""The same plugin program on durable-mp and on the official SDK: the same hook sequence.

One source, written against the official plugin API through the conformance ``sdk``
namespace (so it is the official program with its imports swapped), runs on durable-mp's
embedded service twice: with durable-mp, and with the official SDK (through the official
client adapter). Its factory records every hook call. The handler has a step, a step
that fails once and is retried (an invocation of its own), a wait (another), a child
context and a map; the sequences, invocation by invocation, must be equal.

Compared per hook: the hook, the operation id, type, subtype, name, parent, status,
replay flag, attempt and outcome; for invocations the first-invocation flag and status.
Not compared (documented differences): ``on_operation_change`` calls, whose number and
STARTED entries depend on how checkpoint responses batch (an asynchronous START sent
with the SUCCEED that follows reports only SUCCEEDED); they are compared as the set of
(operation, terminal status) pairs reported. Nor timestamps, nor durable-mp's additions
``executor`` and ``worker_pid``.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from durable_mp.local import LocalRunner, LocalService
from tests.conformance.sdk import load_sdk
from tests.local.local_official_sdk import official_handler

HOOKS = (
    "on_invocation_start",
    "on_invocation_end",
    "on_operation_start",
    "on_operation_end",
    "on_operation_change",
    "on_user_function_start",
    "on_user_function_end",
)


def _token(value: Any) -> Any:
    return getattr(value, "value", value)


def describe(hook: str, info: Any) -> tuple[Any, ...]:
    if hook.startswith("on_invocation"):
        return (hook, info.is_first_invocation, _token(getattr(info, "status", None)))
    return (
        hook,
        info.operation_id,
        _token(info.operation_type),
        info.sub_type,
        info.name,
        info.parent_id,
        _token(info.status),
        info.is_replayed,
        info.attempt,
        _token(getattr(info, "outcome", None)),
    )


def recording_factory(sdk: Any) -> tuple[Any, list[tuple[Any, ...]], set[tuple[str, str]]]:
    calls: list[tuple[Any, ...]] = []
    changes: set[tuple[str, str]] = set()
    lock = threading.Lock()

    class Recorder(sdk.DurableInstrumentationPlugin):  # type: ignore[misc,name-defined]
        def on_operation_change(self, info: Any) -> None:
            with lock:
                changes.update((op_id, _token(op.status)) for op_id, op in info.updated_operations.items())

    for hook in HOOKS:
        if hook == "on_operation_change":
            continue

        def record(self: Any, info: Any, hook: str = hook) -> None:
            with lock:
                calls.append(describe(hook, info))

        setattr(Recorder, hook, record)

    class RecorderFactory:
        def create_plugin(self, info: Any) -> Any:
            return Recorder()

    return RecorderFactory(), calls, changes


def program(sdk: Any, factory: Any) -> Any:
    @sdk.durable_step
    def double(step_ctx: Any, value: int) -> int:
        return value * 2

    @sdk.durable_step
    def flaky(step_ctx: Any) -> str:
        if step_ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return "recovered"

    retry = sdk.StepConfig(
        retry_strategy=sdk.create_retry_strategy(
            sdk.RetryStrategyConfig(
                max_attempts=3,
                initial_delay=sdk.Duration.from_seconds(1),
                backoff_rate=1.0,
                jitter_strategy=sdk.JitterStrategy.NONE,
            )
        )
    )

    def child(ctx: Any) -> int:
        return ctx.step(double(5), name="in-child")

    def item(ctx: Any, value: int, index: int, items: Any) -> int:
        return ctx.step(double(value), name=f"item-{index}")

    def handler(event: Any, ctx: Any) -> Any:
        first = ctx.step(double(1), name="first")
        recovered = ctx.step(flaky(), name="flaky", config=retry)
        ctx.wait(sdk.Duration.from_seconds(1), name="pause")
        nested = ctx.run_in_child_context(child, name="child")
        mapped = ctx.map(
            [1, 2], item, name="items", config=sdk.MapConfig(max_concurrency=1)
        ).get_results()
        return [first, recovered, nested, mapped]

    return sdk.durable_execution(plugins=[factory])(handler)


def run(which: str) -> tuple[str, list[list[tuple[Any, ...]]], set[tuple[str, str]]]:
    sdk = load_sdk(which)
    factory, calls, changes = recording_factory(sdk)
    handler = program(sdk, factory)
    if which == "official":
        handler = official_handler(handler)
    service = LocalService(None)
    try:
        runner = LocalRunner(service, {"program": handler}, fast_forward=True)
        arn = runner.start("program", "{}")
        runner.drive(arn)
        record = service.get_execution(arn)
    finally:
        service.close()
    invocations: list[list[tuple[Any, ...]]] = []
    for call in calls:
        if call[0] == "on_invocation_start":
            invocations.append([])
        invocations[-1].append(call)
    return f"{record.status} {record.result}", invocations, changes


@pytest.mark.slow
def test_hook_sequence_equals_the_official_sdks() -> None:
    official_outcome, official, official_changes = run("official")
    ours_outcome, ours, our_changes = run("durable_mp")
    assert ours_outcome == official_outcome
    assert len(ours) == len(official) == 3, (len(ours), len(official))
    for number, (mine, theirs) in enumerate(zip(ours, official, strict=True), start=1):
        assert mine == theirs, _diff(number, mine, theirs)
    terminal = {"SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "STOPPED"}
    assert {c for c in our_changes if c[1] in terminal} == {
        c for c in official_changes if c[1] in terminal
    }


def _diff(number: int, mine: list[Any], theirs: list[Any]) -> str:
    lines = [f"invocation {number} differs (durable-mp | official):"]
    for index in range(max(len(mine), len(theirs))):
        left = mine[index] if index < len(mine) else "-"
        right = theirs[index] if index < len(theirs) else "-"
        mark = "  " if left == right else "!!"
        lines.append(f"{mark} {_short(left)} | {_short(right)}")
    return "\n".join(lines)


def _short(call: Any) -> str:
    if call == "-":
        return "-"
    return " ".join(str(part)[:10] if part is not None else "." for part in call)
