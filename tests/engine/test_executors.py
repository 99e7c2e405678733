"""Choosing executors, nested operations, and step logging from worker processes."""

from __future__ import annotations

import json
import logging
import os
import threading

import pytest

from durable_mp import (
    NestedOperationError,
    RetryPresets,
    StepConfig,
    StepError,
    ValidationError,
    durable_execution,
)
from durable_mp.engine.executors import resolve_executor_name
from durable_mp.workers import default_pool
from tests.support.fake_service import FakeService, drive


def test_executor_precedence(monkeypatch):
    monkeypatch.delenv("DURABLE_MP_STEP_EXECUTOR", raising=False)
    assert resolve_executor_name(None, None) == "process"
    monkeypatch.setenv("DURABLE_MP_STEP_EXECUTOR", "thread")
    assert resolve_executor_name(None, None) == "thread"
    assert resolve_executor_name(None, "inline") == "inline"
    assert resolve_executor_name("process", "inline") == "process"
    monkeypatch.setenv("DURABLE_MP_STEP_EXECUTOR", "gpu")
    with pytest.raises(ValidationError, match="DURABLE_MP_STEP_EXECUTOR='gpu'"):
        resolve_executor_name(None, None)
    with pytest.raises(ValidationError, match="step_executor"):
        durable_execution(step_executor="fast")  # type: ignore[arg-type]


@pytest.mark.parametrize("executor", ["process", "thread", "inline"])
def test_where_the_body_runs(executor):
    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        return {
            "pid": ctx.step(lambda _: os.getpid()),
            "thread": ctx.step(lambda _: threading.get_ident()),
            "parent_thread": threading.get_ident(),
        }

    result = json.loads(drive(handler, FakeService())["Result"])
    if executor == "process":
        assert result["pid"] != os.getpid()
    else:
        assert result["pid"] == os.getpid()
    assert (result["thread"] == result["parent_thread"]) is (executor == "inline")


@pytest.mark.parametrize("executor", ["process", "thread", "inline"])
def test_durable_operation_inside_a_step_is_refused(executor):
    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        def nested(_):
            return ctx.step(lambda _: 1, name="inner")

        try:
            ctx.step(nested, name="outer", config=StepConfig(retry_strategy=RetryPresets.none()))
        except StepError as error:
            return {"type": error.error_type, "message": error.message}
        return "unreachable"

    result = json.loads(drive(handler, FakeService())["Result"])
    assert result["type"] == f"durable_mp.exceptions.{NestedOperationError.__name__}"
    assert "ctx.step() was called inside the body of step 'outer'" in result["message"]
    assert "run_in_child_context" in result["message"]


def test_worker_step_logs_reach_the_parent_with_operation_fields(caplog):
    @durable_execution(step_executor="process")
    def handler(event, ctx):
        def body(step):
            step.logger.info("working on %s", "chunk-7", extra={"rows": 3})
            step.logger.warning("slow disk")
            return os.getpid()

        return ctx.step(body, name="logged")

    with caplog.at_level(logging.INFO):
        output = drive(handler, FakeService())
    worker_pid = int(output["Result"])
    assert worker_pid != os.getpid()
    record = next(r for r in caplog.records if r.getMessage() == "working on chunk-7")
    assert record.operationName == "logged"
    assert record.attempt == 1
    assert record.rows == 3
    assert record.executionArn.endswith("exec-1")
    assert any(
        r.getMessage() == "slow disk" and r.levelno == logging.WARNING for r in caplog.records
    )


def test_pool_stays_warm_across_invocations():
    @durable_execution(step_executor="process", workers=2)
    def handler(event, ctx):
        return ctx.step(lambda _: os.getpid())

    first = int(drive(handler, FakeService())["Result"])
    pids = set(default_pool(2).worker_pids())
    second = int(drive(handler, FakeService())["Result"])
    assert {first, second} <= pids
    assert set(default_pool(2).worker_pids()) == pids
