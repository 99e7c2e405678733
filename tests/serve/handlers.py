"""Durable handlers served in the serve tests (loaded by file path)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from durable_mp import DurableContext, Duration, durable_execution


@durable_execution
def whoami(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """Checkpoints nothing: answers with the runtime's pid, or misbehaves on request."""
    if "exit" in event:
        os._exit(event["exit"])
    if event.get("kill"):
        os.kill(os.getpid(), signal.SIGKILL)
    if event.get("segfault"):
        import ctypes

        ctypes.string_at(0)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    lambda_context = ctx.lambda_context
    answer = {
        "pid": os.getpid(),
        "request_id": lambda_context.aws_request_id,
        "function_name": lambda_context.function_name,
        "invoked_function_arn": lambda_context.invoked_function_arn,
        "remaining_ms": lambda_context.get_remaining_time_in_millis(),
    }
    if event.get("pool"):  # start the sandbox's step worker pool, as a process step would
        import cloudpickle

        from durable_mp.workers import Job, default_pool

        job = Job(cloudpickle.dumps((os.getpid, ())), label="probe")
        answer["worker_pid"] = default_pool(2).submit(job).result().value
    return answer


def workflow(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """A step, a wait and a child context; the step reports the process it ran in."""
    step_pid = ctx.step(lambda _: os.getpid(), name="work")
    ctx.wait(Duration.from_seconds(1), name="pause")
    inner = ctx.run_in_child_context(
        lambda child: child.step(lambda _: "inchild", name="inner"), name="kid"
    )
    return {"step_pid": step_pid, "runtime_pid": os.getpid(), "inner": inner, "event": event}


def crash_once(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """Checkpoints a step, then kills its runtime the first time it gets that far."""
    before = ctx.step(lambda _: "before", name="before")
    marker = Path(event["marker"])
    if not marker.exists():
        marker.touch()
        os._exit(1)
    return {"before": before, "pid": os.getpid()}
