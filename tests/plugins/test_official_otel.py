"""The official OTel plugin package runs unchanged on durable-mp's hooks.

``aws-durable-execution-sdk-python-otel``'s factory, configured as its README says, is
registered with durable-mp's decorator; durable-mp adapts its infos to the official
classes (``durable_mp.plugins.official``). With the OpenTelemetry SDK's in-memory
exporter, a step, a wait (two invocations) and a child context give the plugin's
invocation view: one trace, a Workflow span, one Invocation span per invocation, a span
per operation under its Invocation (a child's under the child context), an attempt span
under its step.
"""

from __future__ import annotations

from typing import Any

import pytest

from durable_mp import durable_execution
from durable_mp.config import Duration
from durable_mp.local import LocalRunner, LocalService


def test_the_official_invocation_plugin_runs_unchanged() -> None:
    try:
        from aws_durable_execution_sdk_python_otel import (
            InvocationOtelPluginFactory,
            OtelPluginConfig,
        )
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
    except ImportError as missing:
        pytest.fail(f"install the test extra (pip install -e '.[test]'): {missing}")

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = OtelPluginConfig(tracer_provider=provider, enrich_logger=False)

    @durable_execution(plugins=[InvocationOtelPluginFactory(config)])
    def handler(event: Any, ctx: Any) -> Any:
        one = ctx.step(lambda step: 1, name="one")
        ctx.wait(Duration.from_seconds(1), name="pause")
        return ctx.run_in_child_context(
            lambda child: child.step(lambda step: one + 1, name="two"), name="child"
        )

    service = LocalService(None)
    try:
        runner = LocalRunner(service, {"f": handler}, fast_forward=True)
        arn = runner.start("f", "{}")
        runner.drive(arn)
        assert service.get_execution(arn).status == "SUCCEEDED"
    finally:
        service.close()

    spans = exporter.get_finished_spans()
    by_id = {span.context.span_id: span for span in spans}

    def parent(span: Any) -> str | None:
        found = by_id.get(span.parent.span_id) if span.parent else None
        return found.name if found else None

    assert len({span.context.trace_id for span in spans}) == 1
    names = sorted(span.name for span in spans)
    assert names.count("Invocation") == 2 and names.count("Workflow") == 1
    invocations = [span for span in spans if span.name == "Invocation"]
    assert sorted(span.attributes["durable.invocation.status"] for span in invocations) == [
        "PENDING",
        "SUCCEEDED",
    ]
    final = {span.name: span for span in spans if span.name not in ("pause",)}
    assert final["Workflow"].attributes["durable.execution.status"] == "SUCCEEDED"
    assert parent(final["one"]) == "Invocation"
    assert parent(final["one attempt 1"]) == "one"
    assert parent(final["child"]) == "Invocation"
    assert parent(final["two"]) == "child"
    assert parent(final["two attempt 1"]) == "two"
    assert final["two attempt 1"].attributes["durable.attempt.outcome"] == "SUCCEEDED"
    waits = [span for span in spans if span.name == "pause"]
    assert [span.attributes["durable.operation.status"] for span in waits] == [
        "STARTED",
        "SUCCEEDED",
    ]
    for span in spans:
        assert span.attributes.get("durable.execution.arn", arn) == arn
