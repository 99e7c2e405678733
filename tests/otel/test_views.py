"""durable_mp.otel end to end, with the OpenTelemetry SDK's in-memory exporter: the span
trees of both views, spans made in worker processes, ids across invocations, upstream
trace context, and what happens without a configured provider."""

from __future__ import annotations

import datetime
import os
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from durable_mp import durable_execution
from durable_mp.config import Duration, StepConfig
from durable_mp.local import LocalRunner, LocalService
from durable_mp.otel import (
    ExecutionOtelPluginFactory,
    InvocationOtelPluginFactory,
    OtelPluginConfig,
    execution_trace_id,
    operation_span_id,
    workflow_span_id,
)
from tests.otel import bodies

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

pytestmark = pytest.mark.timeout(120)

FACTORIES = {"invocation": InvocationOtelPluginFactory, "execution": ExecutionOtelPluginFactory}


_GLOBAL: list[InMemorySpanExporter] = []


def global_exporter() -> InMemorySpanExporter:
    """The in-memory exporter of this process's global tracer provider (set once, here:
    the OpenTelemetry API refuses to replace a global provider)."""
    from opentelemetry import trace

    if not _GLOBAL:
        exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource({"service.name": "tests"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _GLOBAL.append(exporter)
    return _GLOBAL[0]


class Traced:
    """A provider with an in-memory exporter, and an execution run under a view.

    ``global_provider``: use the process's global provider (what user code in a thread
    or inline step records to) instead of a private one.
    """

    def __init__(self, *, global_provider: bool = False) -> None:
        self.provider: Any = None
        if global_provider:
            self.exporter = global_exporter()
            self.exporter.clear()
        else:
            self.exporter = InMemorySpanExporter()
            self.provider = TracerProvider(resource=Resource({"service.name": "tests"}))
            self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def factory(self, view: str) -> Any:
        return FACTORIES[view](OtelPluginConfig(tracer_provider=self.provider))

    def run(self, handler: Any, payload: Any = None) -> tuple[str, Any]:
        service = LocalService(None)
        try:
            runner = LocalRunner(service, {"f": handler}, fast_forward=True)
            arn = runner.start("f", payload if payload is not None else "{}")
            runner.drive(arn)
            record = service.get_execution(arn)
            return arn, record
        finally:
            service.close()

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        (span,) = self.named(name)
        return span

    def parent_of(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        found = [s for s in self.spans if s.context.span_id == span.parent.span_id]
        return found[0] if found else None

    def path(self, span: ReadableSpan) -> list[str]:
        """Names from the root down to ``span``."""
        names = [span.name]
        while (span := self.parent_of(span)) is not None:  # type: ignore[assignment]
            names.append(span.name)
        return names[::-1]


def map_of_four(traced: Traced, view: str, executor: str = "process") -> Any:
    @durable_execution(plugins=[traced.factory(view)])
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.map(
            [1, 2, 3, 4],
            lambda c, item, index, items: c.step(
                bodies.square(item), name=f"square-{index}", config=StepConfig(executor=executor)
            ),
            name="squares",
        ).get_results()

    return handler


@pytest.mark.parametrize("view", ["invocation", "execution"])
def test_a_map_of_four_process_steps_is_one_trace_down_to_the_spans_the_workers_made(
    view: str,
) -> None:
    traced = Traced()
    _, record = traced.run(map_of_four(traced, view))
    assert record.status == "SUCCEEDED" and record.result == "[1, 4, 9, 16]"
    spans = traced.spans
    assert len({span.context.trace_id for span in spans}) == 1, "one trace"
    worker_pids = set()
    for item in range(1, 5):
        user = traced.one(f"user-{item}")
        attempt = traced.parent_of(user)
        assert attempt is not None and attempt.name == f"square-{item - 1} attempt 1"
        path = traced.path(user)
        top = ["Workflow", "Invocation"] if view == "invocation" else ["Workflow"]
        assert path == [
            *top,
            "squares",
            f"map-item-{item - 1}",
            f"square-{item - 1}",
            f"square-{item - 1} attempt 1",
            f"user-{item}",
        ], path
        iteration = traced.parent_of(traced.parent_of(attempt))  # type: ignore[arg-type]
        assert iteration is not None and iteration.attributes["durable.operation.subtype"] == "MapIteration"
        # recorded by the worker process that ran the step, and said so
        pid = user.attributes["durable_mp.worker.pid"]
        assert pid == user.attributes["pid"] == attempt.attributes["durable_mp.worker.pid"]
        assert pid != os.getpid()
        assert attempt.attributes["durable_mp.executor"] == "process"
        worker_pids.add(pid)
        # the worker's span as the user made it: scope, attributes, event, inside its attempt
        assert user.instrumentation_scope.name == "user.code"
        assert user.attributes["item"] == item
        assert [event.name for event in user.events] == ["computed"]
        assert attempt.start_time <= user.start_time <= user.end_time <= attempt.end_time
        assert user.resource.attributes["service.name"] == "tests"
    assert os.getpid() not in worker_pids


def test_spans_of_a_thread_executor_step_hang_under_its_attempt_too() -> None:
    traced = Traced(global_provider=True)  # user code there records to the global provider
    _, record = traced.run(map_of_four(traced, "invocation", executor="thread"))
    assert record.status == "SUCCEEDED"
    for item in range(1, 5):
        user = traced.one(f"user-{item}")
        attempt = traced.parent_of(user)
        assert attempt is not None and attempt.name == f"square-{item - 1} attempt 1"
        assert attempt.attributes["durable_mp.executor"] == "thread"
        assert "durable_mp.worker.pid" not in user.attributes  # made in this process


def waits_in_a_group(traced: Traced, view: str) -> Any:
    @durable_execution(plugins=[traced.factory(view)])
    def handler(event: Any, ctx: Any) -> Any:
        def group(child: Any) -> Any:
            before = child.step(bodies.square(2), name="before")
            child.wait(Duration.from_seconds(1), name="pause")
            return before + child.step(bodies.square(3), name="after")

        return ctx.run_in_child_context(group, name="group")

    return handler


def test_an_operation_crossing_a_wait_keeps_its_span_id_in_every_invocation() -> None:
    """Execution view: the group starts in the first invocation and ends in the second;
    the steps of both invocations name the same parent, the group's derived id, which is
    the id of the group's one exported span."""
    traced = Traced()
    arn, record = traced.run(waits_in_a_group(traced, "execution"))
    assert record.status == "SUCCEEDED" and record.result == "13"
    invocations = traced.named("Invocation")
    assert len(invocations) == 2
    group = traced.one("group")
    group_id = group.attributes["durable.operation.id"]
    assert group.context.span_id == operation_span_id(arn, group_id)
    before, after = traced.one("before"), traced.one("after")
    assert before.parent.span_id == after.parent.span_id == group.context.span_id
    # made by different invocations: each links to the one that made it
    assert before.links[0].context.span_id != after.links[0].context.span_id
    assert {link.context.span_id for link in (*before.links, *after.links)} == {
        span.context.span_id for span in invocations
    }
    # the user spans of both invocations hang under their attempts, in the same trace
    for name, step in (("user-2", before), ("user-3", after)):
        user = traced.one(name)
        assert traced.parent_of(traced.parent_of(user)) == step  # type: ignore[arg-type]
    workflow = traced.one("Workflow")
    assert workflow.context.span_id == workflow_span_id(arn) and workflow.parent is None
    assert {span.context.trace_id for span in traced.spans} == {workflow.context.trace_id}


def test_the_invocation_view_derives_the_same_ids_in_every_invocation() -> None:
    traced = Traced()
    arn, record = traced.run(waits_in_a_group(traced, "invocation"))
    assert record.status == "SUCCEEDED"
    workflow = traced.one("Workflow")
    first, second = sorted(traced.named("Invocation"), key=lambda s: s.start_time)
    # both invocations are children of the one Workflow span, on the execution's trace
    assert first.parent.span_id == second.parent.span_id == workflow.context.span_id
    assert workflow.context.span_id == workflow_span_id(arn)
    pause_started, pause_ended = sorted(traced.named("pause"), key=lambda s: s.start_time)
    wait_id = pause_started.attributes["durable.operation.id"]
    assert pause_started.context.span_id == operation_span_id(arn, wait_id)
    assert pause_ended.context.span_id != pause_started.context.span_id  # a later segment
    assert pause_ended.attributes["durable_mp.operation.replayed"] is True
    for span in traced.spans:
        if span.name not in ("Workflow", "Invocation") and "durable.operation.id" in span.attributes:
            assert [link.context.span_id for link in span.links] == [workflow.context.span_id]
    # the Workflow span starts when the execution did; the trace id derives from that
    started = datetime.datetime.fromtimestamp(workflow.start_time / 1e9, datetime.UTC)
    assert workflow.context.trace_id == execution_trace_id(arn, started)


@pytest.mark.parametrize("carrier", ["environment", "input"])
def test_an_upstream_w3c_trace_is_the_workflow_parent(
    carrier: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace_hex, parent_hex = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    traceparent = f"00-{trace_hex}-{parent_hex}-01"
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    payload = None
    if carrier == "environment":
        monkeypatch.setenv("TRACEPARENT", traceparent)
    else:
        monkeypatch.delenv("TRACEPARENT", raising=False)
        payload = {"headers": {"traceparent": traceparent}}
    traced = Traced()

    @durable_execution(plugins=[traced.factory("invocation")])
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(bodies.square(1), name="one")

    traced.run(handler, payload)
    workflow = traced.one("Workflow")
    assert workflow.parent is not None and workflow.parent.is_remote
    assert f"{workflow.parent.span_id:016x}" == parent_hex
    assert {f"{span.context.trace_id:032x}" for span in traced.spans} == {trace_hex}


def test_an_xray_header_is_the_workflow_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    )
    traced = Traced()

    @durable_execution(plugins=[traced.factory("execution")])
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(bodies.square(1), name="one")

    traced.run(handler)
    workflow = traced.one("Workflow")
    assert f"{workflow.context.trace_id:032x}" == "5759e988bd862e3fe1be46a994272793"
    assert workflow.parent is not None and f"{workflow.parent.span_id:016x}" == "53995c3f42cd8ad8"


def test_a_chained_invoke_names_its_operation_span_as_the_target_parent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[Any] = []
    original = LocalService.checkpoint

    def recording(self: LocalService, arn: str, token: str, updates: Any, client: Any) -> Any:
        sent.extend(updates)
        return original(self, arn, token, updates, client)

    monkeypatch.setattr(LocalService, "checkpoint", recording)
    traced = Traced()

    @durable_execution(plugins=[traced.factory("execution")])
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.invoke("target", 7, name="call")

    @durable_execution
    def target(event: Any, ctx: Any) -> Any:
        return event

    service = LocalService(None)
    try:
        runner = LocalRunner(service, {"f": handler, "target": target}, fast_forward=True)
        arn = runner.start("f", "{}")
        runner.drive(arn)
    finally:
        service.close()
    (start,) = [u for u in sent if u.chained_invoke_options is not None]
    header = start.chained_invoke_options.x_amzn_trace_id
    call = traced.one("call")
    trace_hex = f"{call.context.trace_id:032x}"
    assert header == (
        f"Root=1-{trace_hex[:8]}-{trace_hex[8:]};"
        f"Parent={operation_span_id(arn, start.operation_id):016x};Sampled=1"
    )
    assert call.context.span_id == operation_span_id(arn, start.operation_id)


def test_without_an_sdk_provider_nothing_is_traced_and_nothing_changes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from opentelemetry.trace import NoOpTracerProvider

    config = OtelPluginConfig(tracer_provider=NoOpTracerProvider())  # type: ignore[arg-type]

    @durable_execution(plugins=[InvocationOtelPluginFactory(config)])
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(bodies.square(3), name="one")

    from durable_mp.otel import base

    base._warned.discard("no-sdk")
    with caplog.at_level("WARNING", logger="durable_mp.otel"):
        _, record = Traced().run(handler)
    assert record.status == "SUCCEEDED" and record.result == "9"
    assert any("no OpenTelemetry SDK tracer provider" in r.getMessage() for r in caplog.records)
