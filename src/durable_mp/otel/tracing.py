"""Starting spans whose ids are decided by durable-mp, through the configured provider.

The plugins need spans with computed ids (``ids.py``), with ids chosen before the span
starts (a step attempt's id travels to the worker first), and copies of spans made in a
worker, ids unchanged. All of them go through the provider's own tracers, so its
resource, sampler, processors and exporters apply as to any span. The ids are passed to
the tracer's id generator for exactly one span: :class:`OverridableIds` wraps the
generator the tracer had and defers to it otherwise.
"""

from __future__ import annotations

import contextvars
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from opentelemetry.trace import Span

    from durable_mp.otel.worker import FinishedSpan

_next_ids: contextvars.ContextVar[tuple[int | None, int | None] | None] = contextvars.ContextVar(
    "durable_mp_otel_next_ids", default=None
)
_install_lock = threading.Lock()


class OverridableIds(IdGenerator):
    """The tracer's id generator, unless :func:`forced_ids` names the next span's ids."""

    def __init__(self, fallback: IdGenerator) -> None:
        self.fallback = fallback

    def generate_trace_id(self) -> int:
        forced = _next_ids.get()
        if forced is not None and forced[0] is not None:
            return forced[0]
        return self.fallback.generate_trace_id()

    def generate_span_id(self) -> int:
        forced = _next_ids.get()
        if forced is not None:
            _next_ids.set(None)  # one span: a processor starting another gets its own
            if forced[1] is not None:
                return forced[1]
        return self.fallback.generate_span_id()

    def is_trace_id_random(self) -> bool:
        forced = _next_ids.get()
        if forced is not None and forced[0] is not None:
            return False
        return self.fallback.is_trace_id_random()


@contextmanager
def forced_ids(trace_id: int | None, span_id: int | None) -> Iterator[None]:
    token = _next_ids.set((trace_id, span_id))
    try:
        yield
    finally:
        _next_ids.reset(token)


def sdk_tracer(provider: Any, name: str, version: str | None = None, schema: str | None = None) -> (
    SdkTracer | None
):
    """The provider's tracer for this scope, able to take forced ids; None when the
    provider is not the OpenTelemetry SDK's (nothing would be recorded)."""
    tracer = provider.get_tracer(name, version, schema_url=schema)
    if not isinstance(tracer, SdkTracer):
        return None
    with _install_lock:
        if not isinstance(tracer.id_generator, OverridableIds):
            tracer.id_generator = OverridableIds(tracer.id_generator)
    return tracer


def now_ns() -> int:
    return time.time_ns()


def parent_context(parent: SpanContext | Span | None) -> Context:
    """A context whose current span is ``parent`` (an empty one for a root)."""
    if parent is None:
        return Context()
    span = parent if not isinstance(parent, SpanContext) else NonRecordingSpan(parent)
    return trace.set_span_in_context(span, Context())


def start_span(
    tracer: SdkTracer,
    name: str,
    *,
    parent: SpanContext | Span | None,
    start_ns: int,
    attributes: dict[str, Any],
    links: Sequence[SpanContext] = (),
    span_id: int | None = None,
    trace_id: int | None = None,
) -> Span:
    """Start an INTERNAL span; ``trace_id`` only matters for a root (a child shares its
    parent's trace)."""
    with forced_ids(trace_id, span_id):
        return tracer.start_span(
            name,
            context=parent_context(parent),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            links=[Link(link) for link in links if link.is_valid],
            start_time=start_ns,
        )


def emit_finished(provider: Any, span: FinishedSpan) -> bool:
    """Re-create a span made in a worker through ``provider``, ids unchanged."""
    name, version, schema = span.scope
    tracer = sdk_tracer(provider, name or "durable_mp.otel.worker", version, schema)
    if tracer is None:
        return False
    state = TraceState(list(span.trace_state))
    parent = (
        SpanContext(
            span.trace_id,
            span.parent_span_id,
            is_remote=span.parent_is_remote,
            trace_flags=TraceFlags(span.trace_flags),
            trace_state=state,
        )
        if span.parent_span_id
        else None
    )
    links = [
        Link(
            SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags)),
            attributes or None,
        )
        for trace_id, span_id, flags, attributes in span.links
    ]
    with forced_ids(span.trace_id, span.span_id):
        copy = tracer.start_span(
            span.name,
            context=parent_context(parent),
            kind=SpanKind[span.kind] if span.kind in SpanKind.__members__ else SpanKind.INTERNAL,
            attributes=span.attributes,
            links=links,
            start_time=span.start_ns,
        )
    for event_name, attributes, timestamp in span.events:
        copy.add_event(event_name, attributes, timestamp)
    code = StatusCode[span.status] if span.status in StatusCode.__members__ else StatusCode.UNSET
    if code is not StatusCode.UNSET:
        copy.set_status(Status(code, span.status_description))
    copy.end(end_time=span.end_ns)
    return True
