"""Plugin hooks around step bodies that run elsewhere: the worker-measured run in the
user-function hooks, worker contexts and their reports, contained failures; and the two
hooks that follow an operation out of the usual path (a future read later, a chained
invoke's trace header)."""

from __future__ import annotations

import datetime
import json
import logging
import os
from typing import Any

import pytest

from durable_mp import durable_execution
from durable_mp.config import Duration, StepConfig
from durable_mp.local import LocalRunner, LocalService
from durable_mp.plugin import (
    DurableInstrumentationPlugin,
    InvocationStartInfo,
    PropagationMetadata,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)
from durable_mp.plugins.dispatch import _reported
from durable_mp.retries import RetryStrategyConfig, create_retry_strategy
from tests.plugins import bodies

pytestmark = pytest.mark.timeout(120)


class Factory:
    def __init__(self, plugin: DurableInstrumentationPlugin) -> None:
        self.plugin = plugin

    def create_plugin(self, info: Any) -> DurableInstrumentationPlugin:
        return self.plugin


class Recorder(DurableInstrumentationPlugin):
    """Records (hook, info) for every hook; optional worker contexts."""

    def __init__(self, worker_context: Any = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.worker_context = worker_context

    def provide_worker_context(self, info: UserFunctionStartInfo) -> Any:
        return self.worker_context

    def on_worker_report(self, info: UserFunctionStartInfo, report: Any) -> None:
        self.calls.append(("on_worker_report", (info, report)))


for _hook in (
    "on_invocation_start",
    "on_invocation_end",
    "on_operation_start",
    "on_operation_end",
    "on_user_function_start",
    "on_user_function_end",
):
    setattr(
        Recorder, _hook, lambda self, info, hook=_hook: self.calls.append((hook, info))
    )


def run(handler: Any, *, fast_forward: bool = True, **functions: Any) -> tuple[str, Any]:
    service = LocalService(None)
    try:
        runner = LocalRunner(service, {"f": handler, **functions}, fast_forward=fast_forward)
        arn = runner.start("f", "{}")
        runner.drive(arn)
        record = service.get_execution(arn)
        return str(record.status), record.result
    finally:
        service.close()


def user_function_infos(plugin: Recorder) -> tuple[UserFunctionStartInfo, UserFunctionEndInfo]:
    (start,) = [info for hook, info in plugin.calls if hook == "on_user_function_start"]
    (end,) = [info for hook, info in plugin.calls if hook == "on_user_function_end"]
    return start, end


def utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


@pytest.mark.parametrize("executor", ["process", "thread"])
def test_user_function_hooks_of_a_step_body_carry_its_measured_run(executor: str) -> None:
    plugin = Recorder()

    @durable_execution(plugins=[Factory(plugin)])
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(bodies.timed, name="timed", config=StepConfig(executor=executor))

    status, result = run(handler)
    assert status == "SUCCEEDED"
    seen = json.loads(result)
    start, end = user_function_infos(plugin)
    assert start.executor == end.executor == executor
    if executor == "process":
        assert start.worker_pid == end.worker_pid == seen["pid"] != os.getpid()
    else:
        assert start.worker_pid == seen["pid"] == os.getpid()  # the process it ran in
    # measured where the body ran: it brackets what the body itself saw
    assert start.start_time is not None and end.end_time is not None
    assert start.start_time <= utc(seen["started"])
    assert utc(seen["ended"]) <= end.end_time
    assert end.end_time - start.start_time >= datetime.timedelta(seconds=0.05)
    assert end.start_time == start.start_time and end.outcome.value == "SUCCEEDED"
    assert (start.operation_id, start.attempt, start.name) == (end.operation_id, 1, "timed")


def test_a_worker_context_reports_between_the_user_function_hooks() -> None:
    plugin = Recorder(bodies.ReportingContext())

    @durable_execution(plugins=[Factory(plugin)])
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(bodies.timed, name="timed")

    assert run(handler)[0] == "SUCCEEDED"
    hooks = [hook for hook, _ in plugin.calls]
    index = hooks.index("on_worker_report")
    assert hooks[index - 1] == "on_user_function_start"
    assert hooks[index + 1] == "on_user_function_end"
    info, report = plugin.calls[index][1]
    start, _ = user_function_infos(plugin)
    assert report == {"pid": start.worker_pid, "exited": True} and report["pid"] != os.getpid()
    assert info.operation_id == start.operation_id


def test_a_worker_context_cannot_swallow_the_body_error() -> None:
    plugin = Recorder(bodies.ReportingContext())
    once = StepConfig(retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=1)))

    @durable_execution(plugins=[Factory(plugin)])
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(bodies.fails, name="fails", config=once)

    assert run(handler)[0] == "FAILED"
    assert "on_worker_report" in [hook for hook, _ in plugin.calls]
    _, end = user_function_infos(plugin)
    assert end.outcome.value == "FAILED" and end.error is not None


@pytest.mark.parametrize("where", ["create", "enter", "exit", "report"])
def test_a_worker_context_that_raises_is_logged_in_the_parent_and_ignored(
    where: str, caplog: pytest.LogCaptureFixture
) -> None:
    _reported.clear()
    plugin = Recorder(bodies.BrokenContext(where))

    @durable_execution(plugins=[Factory(plugin)])
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(bodies.timed, name="timed")

    with caplog.at_level(logging.ERROR, logger="durable_mp.plugins"):
        status, result = run(handler)
    assert status == "SUCCEEDED" and '"pid"' in result
    errors = [r for r in caplog.records if "provide_worker_context" in r.getMessage()]
    assert len(errors) == 1, [r.getMessage() for r in caplog.records]
    assert f"broken on {where}" in str(errors[0].exc_info[1])
    assert "Recorder" in errors[0].getMessage()


def test_a_future_read_later_ends_its_operation_before_the_reader_goes_on() -> None:
    """wait_async resolves during the invocation (a step outlasts it); result() reports
    the wait's end before the next operation starts, not at the invocation's end."""
    plugin = Recorder()

    @durable_execution(plugins=[Factory(plugin)])
    def handler(event: Any, ctx: Any) -> Any:
        pause = ctx.wait_async(Duration.from_seconds(1), name="pause")
        ctx.step(bodies.sleepy, name="sleepy")
        pause.result()
        return ctx.step(bodies.timed, name="after")

    assert run(handler, fast_forward=False)[0] == "SUCCEEDED"
    invocations = [i for i, (hook, _) in enumerate(plugin.calls) if hook == "on_invocation_start"]
    assert len(invocations) == 1, "the wait must have resolved within the one invocation"
    order = [
        (hook, getattr(info, "name", None))
        for hook, info in plugin.calls
        if hook in ("on_operation_start", "on_operation_end")
    ]
    assert order.index(("on_operation_end", "pause")) < order.index(
        ("on_operation_start", "after")
    )


def test_a_chained_invoke_start_carries_the_plugin_trace_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

    class Propagating(DurableInstrumentationPlugin):
        def provide_propagation_metadata(self, info: Any) -> PropagationMetadata:
            return PropagationMetadata(x_amzn_trace_id=header)

    sent: list[Any] = []
    original = LocalService.checkpoint

    def recording(self: LocalService, arn: str, token: str, updates: Any, client: Any) -> Any:
        sent.extend(updates)
        return original(self, arn, token, updates, client)

    monkeypatch.setattr(LocalService, "checkpoint", recording)

    @durable_execution(plugins=[Factory(Propagating())])
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.invoke("target", {"x": 1}, name="call")

    @durable_execution
    def target(event: Any, ctx: Any) -> Any:
        return event

    assert run(handler, target=target) == ("SUCCEEDED", '{"x": 1}')
    starts = [u for u in sent if u.chained_invoke_options is not None]
    assert len(starts) == 1
    assert starts[0].chained_invoke_options.x_amzn_trace_id == header
    assert starts[0].chained_invoke_options.to_dict()["XAmznTraceId"] == header


def test_change_notifications_are_built_only_for_plugins_that_take_them() -> None:
    """Building an OperationChangeInfo copies every operation, on every change: without a
    plugin implementing on_operation_change, none is built (linear, not quadratic)."""
    from durable_mp.plugins.dispatch import PluginRunner, _implements

    class Changes(DurableInstrumentationPlugin):
        def on_operation_change(self, info: Any) -> None:
            pass

    assert not _implements(Recorder(), "on_operation_change")
    assert _implements(Changes(), "on_operation_change")
    official = pytest.importorskip("aws_durable_execution_sdk_python_otel")
    from durable_mp.plugins.official import adapt_foreign_plugin

    adapted = adapt_foreign_plugin(official.InvocationOtelPlugin())
    assert adapted is not None and not _implements(adapted, "on_operation_change")
    for plugins, wanted in (([Recorder()], False), ([Recorder(), Changes()], True)):
        runner = PluginRunner([Factory(plugin) for plugin in plugins])
        runner.start_invocation(InvocationStartInfo(None, "arn", True))
        assert runner.wants_changes is wanted, plugins
