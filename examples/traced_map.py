"""A map over CPU steps, traced with OpenTelemetry (needs ``pip install 'durable-mp[otel]'``).

    durable-mp run examples/traced_map.py:handler --input '{"items": 4}'

prints every span as JSON on stdout (the console exporter): Workflow, Invocation, the map,
its iterations, the steps, their attempts (``durable_mp.worker.pid`` says which worker ran
each), and the ``crunch`` span each step body made in its worker process. With
``OTEL_EXPORTER_OTLP_ENDPOINT`` set (e.g. ``http://localhost:4318`` for a local collector
or Jaeger) and ``opentelemetry-exporter-otlp-proto-http`` installed, spans go there
instead. ``TRACEPARENT=00-<trace id>-<span id>-01`` puts the run under an existing trace.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from durable_mp import DurableContext, StepContext, durable_execution
from durable_mp.otel import InvocationOtelPluginFactory, OtelPluginConfig


def exporter() -> Any:
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # reads the endpoint from the environment
    return ConsoleSpanExporter()


provider = TracerProvider(resource=Resource({"service.name": "traced-map"}))
provider.add_span_processor(SimpleSpanProcessor(exporter()))
trace.set_tracer_provider(provider)  # what user code in the steps records to


def crunch(n: int) -> Any:
    def body(step: StepContext) -> int:
        with trace.get_tracer("examples.traced_map").start_as_current_span(f"crunch {n}"):
            return sum(i * i for i in range(200_000 * n)) % 1_000_003

    return body


@durable_execution(plugins=[InvocationOtelPluginFactory(OtelPluginConfig())])
def handler(event: dict[str, Any], ctx: DurableContext) -> list[int]:
    items = list(range(1, int(event.get("items", 4)) + 1))
    return ctx.map(
        items, lambda c, n, i, _: c.step(crunch(n), name=f"crunch-{n}"), name="crunches"
    ).get_results()
