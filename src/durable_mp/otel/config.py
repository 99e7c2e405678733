"""The plugins' configuration: the official OTel plugin package's, field for field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from durable_mp.otel.upstream import ContextExtractor

DEFAULT_INSTRUMENT_NAME = "aws-durable-execution-sdk-python"
DEFAULT_WORKFLOW_SPAN_NAME = "Workflow"


@dataclass
class OtelPluginConfig:
    """What both views share (``workflow_span_name`` matters to both here).

    ``tracer_provider``: the provider to use; None (the default) means the global one
    (``opentelemetry.trace.get_tracer_provider()``, e.g. the ADOT layer's), looked up at
    each invocation start, so it may be set after the handler module is imported.
    ``context_extractor``: where an upstream trace comes from (default: X-Ray, then
    W3C ``traceparent``; see :mod:`durable_mp.otel.upstream`). ``instrument_name``: the
    instrumentation scope of the plugins' spans. ``enrich_logger`` is accepted so a
    configuration written for the official package carries over; durable-mp installs no
    log filter.
    """

    tracer_provider: TracerProvider | None = None
    context_extractor: ContextExtractor | None = None
    instrument_name: str = DEFAULT_INSTRUMENT_NAME
    workflow_span_name: str = DEFAULT_WORKFLOW_SPAN_NAME
    enrich_logger: bool = True
