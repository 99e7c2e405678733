"""Async steps and nested waits across the process boundary (issue: async steps).

A step body may await another operation's DurableFuture: in thread and inline mode
directly, in process mode by asking the parent over the worker's pipe. The waiting step
deregisters while it waits; the completing step re-registers it before deregistering
itself, so the active count never passes through zero on a hand-off.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_mp import (
    Duration,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    StepError,
    all_of,
    any_of,
    create_retry_strategy,
    durable_execution,
)
from durable_mp.local import LocalRunner, LocalService, history_to_json
from durable_mp.workers import default_pool
from tests.support.fake_service import FakeService, drive

MANAGER_LOG = "durable_mp.engine.manager"


class Lines(logging.Handler):
    """Collects the accounting log lines of one run."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.lines.append(record.getMessage())

    def __enter__(self) -> Lines:
        log = logging.getLogger(MANAGER_LOG)
        self._previous = log.level
        log.setLevel(logging.DEBUG)
        log.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        log = logging.getLogger(MANAGER_LOG)
        log.removeHandler(self)
        log.setLevel(self._previous)


@pytest.mark.parametrize("executor", ["process", "thread", "inline"])
def test_nested_hand_off(executor):
    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        def slow(_):
            time.sleep(0.3)
            return "first"

        first = ctx.step_async(slow, name="first")

        def second(_):
            return f"{first.result()}-processed"

        return ctx.step_async(second, name="second").result()

    with Lines() as log:
        output = drive(handler, FakeService())
    assert output == {"Status": "SUCCEEDED", "Result": '"first-processed"'}
    lines = log.lines
    waiting = _first(lines, "Deregistered context '2-step [second]'")
    wake = _first(lines, "Registered context '2-step [second]' as active", after=waiting)
    # the completing step leaves only after the waiter is back
    assert lines[wake + 1].startswith("Deregistered context '1-step [first]'")
    assert _count(lines[wake]) == _count(lines[wake + 1]) + 1
    assert all(not line.endswith("Active contexts: 0") for line in lines[:-1])


def _first(lines: list[str], prefix: str, after: int = -1) -> int:
    return next(i for i, line in enumerate(lines) if i > after and line.startswith(prefix))


def _count(line: str) -> int:
    return int(line.rsplit(" ", 1)[1])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    graph=st.integers(min_value=2, max_value=7).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 20), min_size=n, max_size=n),  # sleep ms per step
            st.lists(st.lists(st.booleans(), min_size=n, max_size=n), min_size=n, max_size=n),
        )
    ),
    executor=st.sampled_from(["thread", "inline"]),
)
def test_random_await_graphs_never_hit_zero_during_hand_off(graph, executor):
    sleeps, matrix = graph
    n = len(sleeps)
    deps = [[j for j in range(k) if matrix[k][j]] for k in range(n)]
    expected: list[int] = []
    for k in range(n):
        expected.append(k + sum(expected[j] for j in deps[k]))

    @durable_execution(step_executor=executor)
    def handler(event, ctx):
        futures = []
        for k in range(n):
            awaited = [futures[j] for j in deps[k]]

            def body(_, k=k, awaited=awaited):
                time.sleep(sleeps[k] / 1000)
                return k + sum(f.result() for f in awaited)

            futures.append(ctx.step_async(body, name=f"s{k}"))
        return all_of(*futures)

    with Lines() as log:
        output = drive(handler, FakeService())
    assert json.loads(output["Result"]) == expected
    zeros = [i for i, line in enumerate(log.lines) if line.endswith("Active contexts: 0")]
    assert zeros == [len(log.lines) - 1]  # only when the handler has returned


def test_process_mode_random_graph_result():
    """One larger graph through real worker processes with nested waits both ways."""

    @durable_execution(step_executor="process", workers=2)
    def handler(event, ctx):
        a = ctx.step_async(lambda _: 1, name="a")
        b = ctx.step_async(lambda _: a.result() + 1, name="b")
        c = ctx.step_async(lambda _: a.result() + b.result(), name="c")
        d = ctx.step_async(lambda _: any_of(b, c) * 10, name="d")
        return all_of(a, b, c, d)

    output = drive(handler, FakeService())
    assert json.loads(output["Result"]) in ([1, 2, 3, 20], [1, 2, 3, 30])


def test_suspension_during_nested_wait_then_resumption(tmp_path):
    marker = str(tmp_path)
    retry = create_retry_strategy(
        RetryStrategyConfig(max_attempts=2, initial_delay=Duration.from_seconds(1))
    )

    @durable_execution(step_executor="process")
    def handler(event, ctx):
        def flaky(step):
            if step.attempt == 1:
                raise ConnectionError("not yet")
            return 20

        first = ctx.step_async(flaky, name="flaky", config=StepConfig(retry_strategy=retry))

        def waits(_):
            with open(os.path.join(marker, "runs"), "a") as f:
                f.write("run\n")
            try:
                return first.result() + 1
            finally:
                with open(os.path.join(marker, "finally"), "a") as f:
                    f.write(f"{os.getpid()}\n")

        return ctx.step_async(waits, name="waits").result()

    service = LocalService()
    record = LocalRunner(service, {"fn": handler}, fast_forward=True).run("fn")
    assert record.status == "SUCCEEDED", record.error
    assert record.result == "21"
    runs = open(os.path.join(marker, "runs")).read().split()
    finals = open(os.path.join(marker, "finally")).read().split()
    assert len(runs) == 2 and len(finals) == 2  # unwound once by the suspension, once done
    events = history_to_json(service.get_history(record.arn))
    completed = [e for e in events if e["EventType"] == "InvocationCompleted"]
    assert len(completed) == 2


def test_replay_of_async_steps_runs_no_body(tmp_path):
    marker = tmp_path / "runs"

    @durable_execution(step_executor="process")
    def handler(event, ctx):
        def body(i):
            def run(_):
                with open(marker, "a") as f:
                    f.write(f"{i}\n")
                return i

            return run

        futures = [ctx.step_async(body(i), name=f"s{i}") for i in range(3)]
        waited = ctx.wait_async(Duration.from_seconds(1), name="pause")
        waited.result()
        return sum(all_of(*futures))

    service = LocalService()
    runner = LocalRunner(service, {"fn": handler}, fast_forward=True)
    record = runner.run("fn")
    assert record.result == "3"
    before = marker.read_text()
    assert sorted(before.split()) == ["0", "1", "2"]
    assert runner.replay(record.arn)["Result"] == "3"
    assert marker.read_text() == before


def _compensation_handler(marker, **options):
    @durable_execution(step_executor="process", **options)
    def handler(event, ctx):
        later = ctx.wait_async(Duration.from_hours(1), name="an-hour")

        def blocked(i):
            def run(_):
                open(os.path.join(marker, f"blocked-{i}"), "w").close()
                later.result()  # waits inside the body, in the worker
                return i

            return run

        ctx.step_async(blocked(1), name="blocked-1")
        ctx.step_async(blocked(2), name="blocked-2")
        # Submit the independent step only once both bodies run (and block) in the workers:
        # otherwise, on a loaded machine, it could take a worker before they do.
        deadline = time.time() + 60
        while time.time() < deadline and not all(
            os.path.exists(os.path.join(marker, f"blocked-{i}")) for i in (1, 2)
        ):
            time.sleep(0.02)

        def independent(_):
            deadline = time.time() + 20
            while time.time() < deadline:
                if all(os.path.exists(os.path.join(marker, f"blocked-{i}")) for i in (1, 2)):
                    return "ran while both were blocked"
                time.sleep(0.02)
            return "the blocked steps never started"

        try:
            return ctx.step(
                independent,
                name="independent",
                config=StepConfig(retry_strategy=RetryPresets.none()),
            )
        except StepError as error:
            return {"type": error.error_type, "message": error.message}

    return handler


def test_blocked_workers_do_not_hold_cpu_slots(tmp_path):
    handler = _compensation_handler(str(tmp_path), workers=2)
    output = drive(handler, FakeService())
    assert output == {"Status": "SUCCEEDED", "Result": '"ran while both were blocked"'}
    pool = default_pool(2)
    deadline = time.time() + 20
    while len(pool.worker_pids()) > 2 and time.time() < deadline:
        time.sleep(0.05)
    assert len(pool.worker_pids()) == 2  # the extra worker retired


def test_hitting_the_worker_cap_is_a_clear_error(tmp_path):
    handler = _compensation_handler(str(tmp_path), workers=2, max_workers=2)
    output = drive(handler, FakeService())
    result = json.loads(output["Result"])
    assert result["type"] == "durable_mp.exceptions.WorkerPoolError"
    assert "max_total_workers" in result["message"] or "cap" in result["message"]
    default_pool(2)  # restore the default cap for the other tests


@pytest.mark.parametrize("workers", [1, 2])
def test_chain_of_awaiting_steps_completes_with_any_pool_size(workers):
    @durable_execution(step_executor="process", workers=workers)
    def handler(event, ctx):
        previous = ctx.step_async(lambda _: 0, name="link-0")
        for i in range(1, 6):
            previous = ctx.step_async(lambda _, p=previous, i=i: p.result() + i, name=f"link-{i}")
        return previous.result()

    assert drive(handler, FakeService()) == {"Status": "SUCCEEDED", "Result": "15"}


def test_wait_async_and_combinators_suspend_as_one_context():
    @durable_execution(step_executor="thread")
    def handler(event, ctx):
        short = ctx.wait_async(Duration.from_seconds(1), name="short")
        step = ctx.step_async(lambda _: "done", name="work")
        first = any_of(step, short)
        all_of(short, step)
        return first

    service = FakeService()
    output = drive(handler, service)
    assert output == {"Status": "SUCCEEDED", "Result": '"done"'}


def test_callback_captured_by_a_worker_step_keeps_its_id():
    """The usual pattern: hand the callback id to a step that notifies someone."""
    from durable_mp.local import LocalRunner, LocalService

    @durable_execution(step_executor="process")
    def handler(event, ctx):
        callback = ctx.create_callback(name="approval")
        return ctx.step(lambda _: callback.callback_id, name="notify",
                        config=StepConfig(retry_strategy=RetryPresets.none()))

    service = LocalService()
    record = LocalRunner(service, {"fn": handler}, fast_forward=True).run("fn")
    assert record.status == "SUCCEEDED", record.error
    assert len(json.loads(record.result)) > 10
