"""The campaign's workflow: every kind of operation a kill can land in, in one handler.

Run by ``durable-mp run tests/faults/workflow.py:handler`` (loaded by path) with
``FAULT_MARKERS`` naming an append-only file (or the input's ``markers``; on the Lambda
path, where serve runs it, the input says where). Every step body appends, fsync'd, one line
when it starts and one when it ends: ``{"step", "attempt", "pid", "phase", "t"}``; the
campaign reads them back to count re-runs. What it holds, in order:

- ``prepare``: an at-least-once CPU step;
- ``reserve``: an at-most-once step (its attempt must never run twice);
- ``flaky``: fails its first attempt, succeeds on the retry (a 1 s durable timer);
- ``summary``: a child context of two steps;
- ``pause``: a 1 s wait;
- ``crunch``: a map of four CPU items in worker processes;
- ``spawn``: starts a sleeper in each shape a step may start one (a plain child, one in
  its own session, a double-forked orphan), then works: a kill lands while they live;
- ``approval``: a callback, completed from another process with ``durable-mp callback
  succeed`` (the submitter writes the callback id to ``FAULT_CALLBACK_FILE``, or the
  input's ``callback_file``);
- ``commit``: an at-most-once step after the callback.

The result depends only on the input, so every finished run must return
:func:`expected_result`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

from durable_mp import (
    DurableContext,
    Duration,
    MapConfig,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    StepSemantics,
    WaitForCallbackConfig,
    create_retry_strategy,
    durable_execution,
)

MARKERS_ENV = "FAULT_MARKERS"
CALLBACK_FILE_ENV = "FAULT_CALLBACK_FILE"
APPROVAL = '"approved"'  # the JSON the sender sends; callback results pass through as text
ITEMS = 4
SLEEPER = ["sleep", "600"]

_RETRY = create_retry_strategy(
    RetryStrategyConfig(max_attempts=6, initial_delay=Duration.from_seconds(1))
)
AT_LEAST_ONCE = StepConfig(retry_strategy=_RETRY)
AT_MOST_ONCE = StepConfig(
    retry_strategy=_RETRY, step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY
)
AT_MOST_ONCE_STEPS = ("reserve", "commit")


def mark(path: str, step: str, attempt: int, phase: str) -> None:
    """Append one line to the marker file and make it durable before going on."""
    line = json.dumps({"step": step, "attempt": attempt, "pid": os.getpid(), "phase": phase,
                       "t": time.time()})
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def cpu(seed: int, rounds: int) -> int:
    """Deterministic CPU work (about 0.1 s per 300,000 rounds here)."""
    value = seed
    for i in range(rounds):
        value = (value * 31 + i) % 1_000_003
    return value


def start_sleepers() -> list[int]:
    """One sleeper in each shape a step may start a process; their pids."""
    pids = [
        subprocess.Popen(SLEEPER).pid,
        subprocess.Popen(SLEEPER, start_new_session=True).pid,
    ]
    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:  # fork, setsid, fork: the middle exits, the sleeper is an orphan
        os.close(read)
        os.setsid()
        grandchild = os.fork()
        if grandchild == 0:
            os.execvp(SLEEPER[0], SLEEPER)
        os.write(write, str(grandchild).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(middle, 0)
    with os.fdopen(read) as pipe:
        pids.append(int(pipe.read()))
    return pids


def _salt(name: str) -> int:
    return sum(ord(c) * (i + 1) for i, c in enumerate(name))


def body(markers: str, name: str, seed: int, rounds: int, *, fail_first: bool = False,
         sleepers: bool = False, external: float = 0.0) -> Any:
    """A step body that marks its start and end; ``external`` seconds stand for a call to
    another system (what an at-most-once step guards)."""

    def run(step: StepContext) -> int:
        mark(markers, name, step.attempt, "start")
        time.sleep(external)
        if sleepers:
            start_sleepers()
            time.sleep(0.5)
        value = cpu(seed + _salt(name), rounds)
        if fail_first and step.attempt == 1:
            mark(markers, name, step.attempt, "raised")
            raise ConnectionError(f"{name}: the first attempt fails")
        mark(markers, name, step.attempt, "end")
        return value

    return run


def expected_result(event: dict[str, Any]) -> dict[str, Any]:
    seed = event["seed"]

    def value(name: str, rounds: int) -> int:
        return cpu(seed + _salt(name), rounds)

    return {
        "prepare": value("prepare", 300_000),
        "reserve": value("reserve", 10_000),
        "flaky": value("flaky", 10_000),
        "summary": value("summary-a", 100_000) + value("summary-b", 100_000),
        "crunch": [value(f"crunch-{i}", 1_000_000) for i in range(ITEMS)],
        "spawn": value("spawn", 10_000),
        "approval": APPROVAL,
        "commit": value("commit", 10_000),
    }


def submitter(path: str) -> Any:
    def submit(callback_id: str, context: Any) -> None:
        """Hand the callback id to the outside world: a file the campaign watches."""
        with open(path + ".tmp", "w") as out:
            out.write(callback_id)
        os.replace(path + ".tmp", path)

    return submit


@durable_execution
def handler(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    seed = event["seed"]
    markers = event.get("markers") or os.environ[MARKERS_ENV]
    callback_file = event.get("callback_file") or os.environ[CALLBACK_FILE_ENV]

    def step(name: str, rounds: int, config: StepConfig = AT_LEAST_ONCE,
             on: DurableContext = ctx, **options: Any) -> int:
        value: int = on.step(body(markers, name, seed, rounds, **options), name=name,
                             config=config)
        return value

    prepare = step("prepare", 300_000)
    reserve = step("reserve", 10_000, AT_MOST_ONCE, external=0.3)
    flaky = step("flaky", 10_000, fail_first=True)
    summary = ctx.run_in_child_context(
        lambda child: step("summary-a", 100_000, on=child) + step("summary-b", 100_000, on=child),
        name="summary",
    )
    ctx.wait(Duration.from_seconds(1), name="pause")
    crunch = ctx.map(
        list(range(ITEMS)),
        lambda item_ctx, item, index, items: step(f"crunch-{item}", 1_000_000, on=item_ctx),
        name="crunch",
        config=MapConfig(max_concurrency=2),
    ).get_results()
    spawn = step("spawn", 10_000, sleepers=True)
    approval = ctx.wait_for_callback(
        submitter(callback_file),
        name="approval",
        config=WaitForCallbackConfig(timeout=Duration.from_seconds(600)),
    )
    commit = step("commit", 10_000, AT_MOST_ONCE, external=0.3)
    return {
        "prepare": prepare,
        "reserve": reserve,
        "flaky": flaky,
        "summary": summary,
        "crunch": crunch,
        "spawn": spawn,
        "approval": approval,
        "commit": commit,
    }
