"""Where a step body runs: its attempt's span is current, and the spans it creates come home.

The plugin gives each attempt a :class:`StepSpanContext` (picklable: ids and flags). Where
the body runs, entering it makes the attempt's span the current span, so any span user
code starts there is its child -- no setup in user code.

In a worker process those spans must still reach the exporter the parent was configured
with. A worker started from a fresh interpreter has no tracer provider of its own, so the
first attempt installs :class:`ShippingProvider`, a provider whose only processor keeps
finished spans as plain data (:class:`FinishedSpan`). When the body ends they are the
context's ``worker_report()``: they cross the pipe ahead of the step's result and the
plugin re-emits them, ids unchanged, through the parent's provider -- its resource, its
processors, its exporters, flushed when the invocation ends. Why not export from the
worker: its exporter would need configuring in every worker, a batching processor there
would still hold spans when Lambda freezes the sandbox after the invocation, and an
in-memory exporter would keep them where no test can see them.

If the worker already has a provider of its own (auto-instrumentation that runs in every
interpreter, such as the ADOT layer's, or one a module configured when the worker imported
it), that provider records the body's spans and exports them itself; the context flushes
it when the body ends so nothing waits in a frozen sandbox.

Workers are reused: spans are drained per attempt (one a thread of the body ends later
travels with the next attempt of that worker). A worker that forks keeps the provider; the
child starts with an empty buffer and nobody to ship to.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span

WORKER_PID_ATTRIBUTE = "durable_mp.worker.pid"
MAX_SHIPPED_SPANS = 5_000  # per attempt; more are counted, not kept


@dataclass(frozen=True)
class FinishedSpan:
    """A finished span as plain data, to cross the pipe (see :func:`finished_span`)."""

    name: str
    trace_id: int
    span_id: int
    parent_span_id: int | None
    parent_is_remote: bool
    trace_flags: int
    trace_state: tuple[tuple[str, str], ...]
    kind: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: tuple[tuple[str, dict[str, Any], int], ...] = ()
    links: tuple[tuple[int, int, int, dict[str, Any]], ...] = ()
    status: str = "UNSET"
    status_description: str | None = None
    scope: tuple[str, str | None, str | None] = ("", None, None)


@dataclass(frozen=True)
class ShippedSpans:
    """What an attempt's worker context reports: its finished spans, and how many more
    there were than :data:`MAX_SHIPPED_SPANS`."""

    spans: tuple[FinishedSpan, ...]
    dropped: int = 0


def finished_span(span: ReadableSpan) -> FinishedSpan:
    context = span.get_span_context()
    assert context is not None
    parent = span.parent
    scope = span.instrumentation_scope
    return FinishedSpan(
        name=span.name,
        trace_id=context.trace_id,
        span_id=context.span_id,
        parent_span_id=parent.span_id if parent is not None else None,
        parent_is_remote=bool(parent is not None and parent.is_remote),
        trace_flags=int(context.trace_flags),
        trace_state=tuple(context.trace_state.items()),
        kind=span.kind.name,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or span.start_time or 0,
        attributes=dict(span.attributes or {}),
        events=tuple(
            (event.name, dict(event.attributes or {}), event.timestamp) for event in span.events
        ),
        links=tuple(
            (
                link.context.trace_id,
                link.context.span_id,
                int(link.context.trace_flags),
                dict(link.attributes or {}),
            )
            for link in span.links
        ),
        status=span.status.status_code.name,
        status_description=span.status.description,
        scope=(scope.name, scope.version, scope.schema_url) if scope else ("", None, None),
    )


class _Collector(SpanProcessor):
    """The shipping provider's span processor: stamps the worker's pid, keeps spans."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a lock held at fork stays held

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[FinishedSpan] = []
        self._dropped = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        span.set_attribute(WORKER_PID_ATTRIBUTE, os.getpid())

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            if len(self._spans) < MAX_SHIPPED_SPANS:
                self._spans.append(finished_span(span))
            else:
                self._dropped += 1

    def drain(self) -> ShippedSpans | None:
        with self._lock:
            spans, dropped = self._spans, self._dropped
            self._spans, self._dropped = [], 0
        return ShippedSpans(tuple(spans), dropped) if spans or dropped else None


_install_lock = threading.Lock()
_collector: _Collector | None = None


def _shipping_collector() -> _Collector | None:
    """The collector of this worker's shipping provider, installed on first use; None
    when the worker has a tracer provider of its own."""
    global _collector  # noqa: PLW0603 - one provider per worker process
    with _install_lock:
        if _collector is not None:
            return _collector
        if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            return None
        collector = _Collector()
        provider = TracerProvider()
        provider.add_span_processor(collector)
        trace.set_tracer_provider(provider)
        _collector = collector
        return collector


def _in_worker_process() -> bool:
    from durable_mp.workers import in_worker

    return in_worker()


@dataclass(frozen=True)
class StepSpanContext:
    """The worker-context factory of one attempt: its span's ids (see the module
    docstring)."""

    trace_id: int
    span_id: int
    trace_flags: int
    trace_state: tuple[tuple[str, str], ...] = field(default=())

    def span_context(self) -> SpanContext:
        return SpanContext(
            self.trace_id,
            self.span_id,
            is_remote=True,  # made in another process (or thread) than the spans under it
            trace_flags=TraceFlags(self.trace_flags),
            trace_state=TraceState(list(self.trace_state)),
        )

    def __call__(self) -> _AttemptScope:
        return _AttemptScope(self)


class _AttemptScope:
    def __init__(self, step: StepSpanContext) -> None:
        self._step = step
        self._token: object | None = None
        self._collector: _Collector | None = None
        self._own_provider: Any = None

    def __enter__(self) -> None:
        if _in_worker_process():
            self._collector = _shipping_collector()
            if self._collector is None:
                self._own_provider = trace.get_tracer_provider()
        span = NonRecordingSpan(self._step.span_context())
        self._token = otel_context.attach(trace.set_span_in_context(span))

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None
        flush = getattr(self._own_provider, "force_flush", None)
        if callable(flush):
            flush()

    def worker_report(self) -> ShippedSpans | None:
        return self._collector.drain() if self._collector is not None else None
