"""Issue acceptance: crashing steps, unpicklable closures, timeouts and memory limits.

Every scenario runs in process mode on the embedded service. A crash fails only its own
step with WorkerCrashedError, which then goes through the step's retry strategy.
"""

from __future__ import annotations

import json
import threading
import time

from durable_mp import (
    Duration,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    create_retry_strategy,
    durable_execution,
)
from durable_mp.local import LocalRunner, LocalService, history_to_json

RETRY_ONCE = create_retry_strategy(
    RetryStrategyConfig(max_attempts=2, initial_delay=Duration.from_seconds(1))
)


def run(handler, input=None):
    service = LocalService()
    record = LocalRunner(service, {"fn": handler}, fast_forward=True).run("fn", input)
    return record, history_to_json(service.get_history(record.arn))


def step_failures(events):
    return [
        (e.get("Name"), e["StepFailedDetails"]["Error"]["Payload"])
        for e in events
        if e["EventType"] == "StepFailed"
    ]


def test_crashing_steps_fail_with_worker_crashed_error_and_retry():
    @durable_execution
    def handler(event, ctx):
        import ctypes
        import os
        import signal

        def crash(kind):
            def body(step):
                if step.attempt == 1:
                    if kind == "exit":
                        os._exit(3)
                    if kind == "sigkill":
                        os.kill(os.getpid(), signal.SIGKILL)
                    ctypes.string_at(0)  # segmentation fault
                return f"{kind} survived attempt {step.attempt}"

            return body

        return {
            kind: ctx.step(crash(kind), name=kind, config=StepConfig(retry_strategy=RETRY_ONCE))
            for kind in ("exit", "sigkill", "segfault")
        }

    record, events = run(handler)
    assert record.status == "SUCCEEDED", record.error
    assert json.loads(record.result) == {
        "exit": "exit survived attempt 2",
        "sigkill": "sigkill survived attempt 2",
        "segfault": "segfault survived attempt 2",
    }
    failures = dict(step_failures(events))
    for kind, text in [
        ("exit", "exited with code 3"),
        ("sigkill", "SIGKILL"),
        ("segfault", "SIGSEGV"),
    ]:
        assert failures[kind]["ErrorType"] == "durable_mp.exceptions.WorkerCrashedError"
        assert text in failures[kind]["ErrorMessage"], failures[kind]
        assert f"step '{kind}'" in failures[kind]["ErrorMessage"]


def test_unpicklable_closure_fails_with_a_clear_error():
    @durable_execution
    def handler(event, ctx):
        lock = threading.Lock()
        return ctx.step(lambda _: lock.locked(), name="needs-lock")

    record, events = run(handler)
    assert record.status == "FAILED"
    message = record.error.message
    assert "step 'needs-lock'" in message
    assert "closure variable 'lock'" in message and "_thread.lock" in message
    assert "executor='thread'" in message
    # permanent: the retry strategy is not consulted, one failure only
    assert len(step_failures(events)) == 1

    @durable_execution
    def thread_handler(event, ctx):
        lock = threading.Lock()
        return ctx.step(
            lambda _: lock.locked(), name="needs-lock", config=StepConfig(executor="thread")
        )

    record, _ = run(thread_handler)
    assert record.status == "SUCCEEDED" and record.result == "false"


def test_step_over_timeout_is_killed():
    @durable_execution
    def handler(event, ctx):
        def slow(_):
            time.sleep(60)
            return "never"

        return ctx.step(
            slow, name="slow", config=StepConfig(timeout=1, retry_strategy=RetryPresets.none())
        )

    started = time.monotonic()
    record, events = run(handler)
    assert time.monotonic() - started < 30
    assert record.status == "FAILED"
    ((_name, error),) = step_failures(events)
    assert error["ErrorType"] == "durable_mp.exceptions.StepTimeoutError"
    assert "ran longer than its timeout of 1 s" in error["ErrorMessage"]


def test_step_over_memory_limit_is_killed():
    @durable_execution
    def handler(event, ctx):
        def hog(_):
            blocks = []
            for _ in range(60):
                blocks.append(bytearray(10 * 1024 * 1024))
                time.sleep(0.02)
            return len(blocks)

        return ctx.step(
            hog,
            name="hog",
            config=StepConfig(memory_limit_mb=100, retry_strategy=RetryPresets.none()),
        )

    record, events = run(handler)
    assert record.status == "FAILED"
    ((_name, error),) = step_failures(events)
    assert error["ErrorType"] == "durable_mp.exceptions.StepMemoryLimitError"
    assert "memory_limit_mb=100" in error["ErrorMessage"]
