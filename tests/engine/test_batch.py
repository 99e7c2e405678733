"""map and parallel: completion rules, ordering, early completion, replay, FLAT nesting."""

from __future__ import annotations

import json
import os
import time

import pytest

from durable_mp import (
    BatchCompletionError,
    BatchResult,
    ChildContextError,
    CompletionConfig,
    Duration,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    RetryPresets,
    StepConfig,
    ValidationError,
    complete_batch,
    continue_batch,
    durable_execution,
)
from durable_mp.concurrency.models import CompletionReason
from durable_mp.config import BatchItemStatus, CompletionOutcome
from durable_mp.lambda_service import OperationAction, OperationType
from tests.support.fake_service import FakeService, drive

NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


def run(handler):
    service = FakeService()
    output = drive(handler, service)
    return output, service


def contexts(service, sub_type, action=OperationAction.START):
    return [
        u
        for call in service.calls
        for u in call
        if u.operation_type is OperationType.CONTEXT
        and u.sub_type == sub_type
        and u.action is action
    ]


def fail_on(*bad):
    def item(ctx, value, index, items):
        if value in bad:
            raise ValueError(f"bad {value}")
        return value * 10

    return item


def projection(result: BatchResult) -> dict:
    return {
        "results": result.get_results(),
        "reason": result.completion_reason.value,
        "statuses": [item.status.value for item in result.all],
        "errors": [e.type for e in result.get_errors()],
    }


@pytest.mark.parametrize("executor", ["process", "thread"])
def test_map_results_in_index_order_with_steps_in_the_executor(executor):
    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        def item(child, value, index, items):
            time.sleep(0.05 * (len(items) - index))  # later items finish first
            return child.step(lambda _: (value * index, os.getpid()), name=f"s{index}")

        result = ctx.map([1, 2, 3, 4], item, name="m")
        return [value for value, _ in result.get_results()], len(
            {pid for _, pid in result.get_results()}
        )

    output, service = run(handler)
    values, pids = json.loads(output["Result"])
    assert values == [0, 2, 6, 12]
    if executor == "process":
        assert pids >= 1 and os.getpid() not in {pids}
    iterations = contexts(service, "MapIteration")
    assert sorted(u.name for u in iterations) == [f"map-item-{i}" for i in range(4)]
    parent = contexts(service, "Map")[0]
    assert {u.parent_id for u in iterations} == {parent.operation_id}


def test_default_map_fails_fast_and_reports_failures():
    @durable_execution(step_executor="thread")
    def handler(event, ctx):
        return projection(ctx.map([1, 2, 3], fail_on(2), config=MapConfig(max_concurrency=1)))

    output, _ = run(handler)
    result = json.loads(output["Result"])
    assert result == {
        "results": [10],
        "reason": "FAILURE_TOLERANCE_EXCEEDED",
        "statuses": ["SUCCEEDED", "FAILED"],
        "errors": ["ValueError"],
    }


@pytest.mark.parametrize(
    ("config", "expected_reason", "expected_statuses"),
    [
        (
            CompletionConfig.all_completed(),
            "ALL_COMPLETED",
            ["SUCCEEDED", "FAILED", "SUCCEEDED", "FAILED"],
        ),
        (
            CompletionConfig(tolerated_failure_count=1),
            "FAILURE_TOLERANCE_EXCEEDED",
            ["SUCCEEDED", "FAILED", "SUCCEEDED", "FAILED"],
        ),
        (
            CompletionConfig(tolerated_failure_percentage=50),
            "ALL_COMPLETED",
            ["SUCCEEDED", "FAILED", "SUCCEEDED", "FAILED"],
        ),
        (
            CompletionConfig(tolerated_failure_percentage=25),
            "FAILURE_TOLERANCE_EXCEEDED",
            ["SUCCEEDED", "FAILED", "SUCCEEDED", "FAILED"],
        ),
        (CompletionConfig(min_successful=1), "MIN_SUCCESSFUL_REACHED", ["SUCCEEDED"]),
    ],
)
def test_completion_configs(config, expected_reason, expected_statuses):
    @durable_execution(step_executor="thread")
    def handler(event, ctx):
        result = ctx.map(
            [1, 2, 3, 4],
            fail_on(2, 4),
            config=MapConfig(max_concurrency=1, completion_config=config),
        )
        return projection(result)

    output, _ = run(handler)
    result = json.loads(output["Result"])
    assert result["reason"] == expected_reason
    assert result["statuses"] == expected_statuses


def test_custom_should_complete_and_throw_if_error():
    def quorum(status):
        if status.success_count >= 2:
            return complete_batch()
        if status.failure_count >= 1 and status.completed_count == status.total_count:
            return complete_batch(CompletionOutcome.FAILED)
        return continue_batch()

    @durable_execution(step_executor="thread")
    def handler(event, ctx):
        good = ctx.map(
            [1, 2, 3],
            fail_on(),
            config=MapConfig(
                max_concurrency=1, completion_config=CompletionConfig(should_complete=quorum)
            ),
        )
        bad = ctx.map(
            [1, 2],
            fail_on(2),
            config=MapConfig(
                max_concurrency=1, completion_config=CompletionConfig(should_complete=quorum)
            ),
        )
        try:
            bad.throw_if_error()
        except ChildContextError as error:
            thrown = error.error_type
        return {
            "good": good.completion_reason.value,
            "good_status": good.status.value,
            "bad": bad.completion_reason.value,
            "bad_status": bad.status.value,
            "thrown": thrown,
        }

    output, _ = run(handler)
    assert json.loads(output["Result"]) == {
        "good": "CUSTOM_COMPLETION_SUCCEEDED",
        "good_status": "SUCCEEDED",
        "bad": "CUSTOM_COMPLETION_FAILED",
        "bad_status": "FAILED",
        "thrown": "ValueError",
    }
    result = BatchResult([], CompletionReason.CUSTOM_COMPLETION_FAILED)
    with pytest.raises(BatchCompletionError):
        result.throw_if_error()


def test_empty_inputs_and_validation():
    @durable_execution(step_executor="thread")
    def handler(event, ctx):
        m = ctx.map([], fail_on(), name="none")
        p = ctx.parallel([], name="nothing")
        return [projection(m), projection(p)]

    output, service = run(handler)
    assert (
        json.loads(output["Result"])
        == [{"results": [], "reason": "ALL_COMPLETED", "statuses": [], "errors": []}] * 2
    )

    with pytest.raises(ValidationError, match="max_concurrency"):
        ParallelConfig(max_concurrency=0)

    @durable_execution(step_executor="thread")
    def too_many(event, ctx):
        ctx.map(
            [1], fail_on(), config=MapConfig(completion_config=CompletionConfig(min_successful=2))
        )

    output, service = run(too_many)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "durable_mp.exceptions.ValidationError"
    assert service.calls == []  # refused before any operation was started


def test_parallel_named_branches_and_flat_nesting():
    @durable_execution(step_executor="thread")
    def handler(event, ctx):
        nested = ctx.parallel(
            [lambda c: c.step(lambda _: "a", name="a"), ParallelBranch(lambda c: "b", name="bee")],
            name="nested",
        )
        flat = ctx.parallel(
            [lambda c: c.step(lambda _: "x", name="x"), lambda c: "y"],
            name="flat",
            config=ParallelConfig(nesting_type=NestingType.FLAT),
        )
        return nested.get_results() + flat.get_results()

    output, service = run(handler)
    assert json.loads(output["Result"]) == ["a", "b", "x", "y"]
    names = [u.name for u in contexts(service, "ParallelBranch")]
    assert names == ["parallel-branch-0", "bee"]  # FLAT branches record no CONTEXT
    flat_parent = next(u for u in contexts(service, "Parallel") if u.name == "flat")
    flat_steps = [u for call in service.calls for u in call if u.name == "x"]
    assert flat_steps[0].parent_id == flat_parent.operation_id


def test_early_completion_orphans_running_branches_and_starts_no_more(tmp_path):
    started = tmp_path / "started"
    slow_running = tmp_path / "slow-running"

    def slow(_):
        slow_running.touch()
        time.sleep(0.5)

    def fast_once_slow_runs(_):
        # Deterministic: the map completes while branch 1's step is surely running (its
        # START queued before this branch's SUCCEED), not merely after it began.
        deadline = time.monotonic() + 30
        while not slow_running.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        return "fast"

    @durable_execution(step_executor="thread")
    def handler(event, ctx):
        def item(child, value, index, items):
            with open(started, "a") as f:
                f.write(f"{index}\n")
            if index == 0:
                return child.step(fast_once_slow_runs, name="fast")
            child.step(slow, name=f"slow-{index}")
            return child.step(lambda _: "after orphaning", name=f"late-{index}")

        result = ctx.map(
            list(range(6)),
            item,
            config=MapConfig(
                max_concurrency=2, completion_config=CompletionConfig(min_successful=1)
            ),
        )
        return projection(result)

    output, service = run(handler)
    result = json.loads(output["Result"])
    assert result["reason"] == "MIN_SUCCESSFUL_REACHED"
    assert result["statuses"] == ["SUCCEEDED", "STARTED"]
    assert sorted(open(started).read().split()) == ["0", "1"]  # no new branch after completion
    names = [u.name for call in service.calls for u in call]
    assert "late-1" not in names  # the orphaned branch checkpointed nothing after it
    assert "slow-1" in names  # it was running when the map completed


def test_large_batch_result_replays_from_children():
    big = "z" * 100_000

    @durable_execution(step_executor="thread")
    def handler(event, ctx):
        result = ctx.map(
            [1, 2, 3, 4], lambda c, v, i, items: c.step(lambda _: big + str(i), name=f"s{i}")
        )
        ctx.wait(Duration.from_seconds(1))
        return [len(r) for r in result.get_results()], result.completion_reason.value

    output, service = run(handler)
    assert json.loads(output["Result"]) == [[100_001] * 4, "ALL_COMPLETED"]
    map_succeed = contexts(service, "Map", OperationAction.SUCCEED)[0]
    assert map_succeed.context_options.replay_children is True
    envelope = json.loads(map_succeed.payload)
    assert envelope["type"] == "MapResult" and envelope["totalCount"] == 4
    assert envelope["completionReason"] == "ALL_COMPLETED"


def test_process_mode_map_matches_thread_mode():
    def body(ctx, value, index, items):
        return ctx.step(lambda _: sum(i * value for i in range(10_000)), name=f"sum-{index}")

    results = {}
    for executor in ("process", "thread"):

        @durable_execution(step_executor=executor)
        def handler(event, ctx):
            return ctx.map(list(range(8)), body).get_results()

        results[executor] = json.loads(run(handler)[0]["Result"])
    assert results["process"] == results["thread"]


def test_branch_statuses_in_batch_items():
    result = BatchResult.from_dict(
        {
            "all": [
                {"index": 0, "status": "SUCCEEDED", "result": 1, "error": None},
                {"index": 1, "status": "STARTED", "result": None, "error": None},
            ]
        },
    )
    assert [i.status for i in result.all] == [BatchItemStatus.SUCCEEDED, BatchItemStatus.STARTED]
    assert result.started_count == 1 and result.total_count == 2
