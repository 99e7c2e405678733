"""The invocation view: each invocation is a tree of what it did.

::

    Workflow (one per execution, exported by the invocation that ends it)
    └── Invocation (one per invocation)
        └── operation span (a step, wait, invoke, callback, child context, map, ...)
            ├── nested operations (in a child context, a map item, a branch)
            └── "<step> attempt <n>" (the body, timed where it ran)
                └── spans user code made in the body (in the worker process)

An operation that spans invocations (a wait, a retried step, a callback) has a span in
each: the one where it started has the id derived from the execution and operation
(``ids.operation_span_id``), later ones fresh ids; all carry ``durable.operation.id`` and
link to the Workflow span. A span still open when its invocation ends is ended there
(status unset, ``durable_mp.span.truncated``). Span names, ``durable.*`` attributes,
statuses and links are those of the official package's ``InvocationOtelPlugin``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable_mp.otel.base import (
    REPLAYED_ATTRIBUTE,
    TRUNCATED_ATTRIBUTE,
    TracingPlugin,
    operation_attributes,
    record_operation_outcome,
)
from durable_mp.otel.ids import operation_span_id, random_span_id
from durable_mp.otel.tracing import start_span
from durable_mp.plugin import (
    InvocationEndInfo,
    InvocationStartInfo,
    OperationEndInfo,
    OperationInfo,
    OperationStartInfo,
    OperationType,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span, SpanContext

    from durable_mp.otel.config import OtelPluginConfig

_INVOCATION_SCOPE = "invocation"


class InvocationOtelPlugin(TracingPlugin):
    """One invocation's spans in the invocation view (see the module docstring)."""

    view = "invocation"

    def __init__(self, config: OtelPluginConfig | None = None) -> None:
        super().__init__(config)
        self._spans: dict[str, Span] = {}  # open operation spans by operation id
        self._context_replayed: dict[str, bool] = {}

    # -- invocation -----------------------------------------------------------------------

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        if not self._begin(info):
            return
        assert self._workflow is not None
        ambient = self._ambient()
        same_trace = ambient is not None and ambient.get_span_context().trace_id == self._trace_id
        self._start_invocation(info, ambient if same_trace and ambient else self._workflow)
        assert self._invocation is not None
        self._attach(_INVOCATION_SCOPE, self._invocation)

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        if not self._enabled:
            return
        self._detach_all()
        self._end_open_attempts()
        with self._lock:
            open_spans, self._spans = list(self._spans.values()), {}
        for span in reversed(open_spans):  # children were opened after their parents
            span.set_attribute(TRUNCATED_ATTRIBUTE, True)
            span.end(self._tick())
        self._end_invocation(info)

    # -- operations -----------------------------------------------------------------------

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if not self._enabled:
            return
        if info.operation_type is OperationType.CONTEXT:
            # The context's span starts with its function (on_user_function_start).
            with self._lock:
                self._context_replayed[info.operation_id] = info.is_replayed
            return
        self._open(info, first_segment=not info.is_replayed)

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if not self._enabled:
            return
        with self._lock:
            span = self._spans.pop(info.operation_id, None)
        if span is None:  # it started in an earlier invocation: this invocation's segment
            span = self._open(info, first_segment=False)
            with self._lock:
                self._spans.pop(info.operation_id, None)
        span.set_attributes(operation_attributes(self._arn, info))
        record_operation_outcome(span, info)
        span.end(self._tick())

    def _open(self, info: OperationInfo, *, first_segment: bool) -> Span:
        assert self._tracer is not None and self._workflow is not None
        attributes = operation_attributes(self._arn, info)
        attributes[REPLAYED_ATTRIBUTE] = not first_segment
        span = start_span(
            self._tracer,
            info.name or info.operation_id,
            parent=self._parent(info.parent_id),
            start_ns=self._tick(),
            attributes=attributes,
            links=[self._workflow],
            span_id=operation_span_id(self._arn, info.operation_id)
            if first_segment
            else random_span_id(),
        )
        with self._lock:
            self._spans[info.operation_id] = span
        return span

    def _parent(self, parent_id: str | None) -> Span | SpanContext:
        with self._lock:
            found = self._spans.get(parent_id) if parent_id is not None else None
        if found is not None:
            return found
        assert self._invocation is not None
        return self._invocation

    # -- user functions -------------------------------------------------------------------

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        if not self._enabled:
            return
        if info.operation_type is OperationType.STEP:
            self._start_attempt(info)
            return
        with self._lock:
            replayed = self._context_replayed.get(info.operation_id)
            existing = self._spans.get(info.operation_id)
        if existing is None:
            # Checkpointed and started in this invocation: the derived id; a context
            # replayed from an earlier invocation or without a checkpoint: a fresh one.
            first = replayed is False and not info.is_replay_children
            existing = self._open(info, first_segment=first)
        self._attach(f"context:{info.operation_id}", existing)

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        if not self._enabled:
            return
        if info.operation_type is OperationType.STEP:
            self._end_attempt(info)
            return
        # The context's span ends with the operation (on_operation_end).
        self._detach(f"context:{info.operation_id}")

    # -- attempts -------------------------------------------------------------------------

    def _attempt_parent(self, operation_id: str, parent_id: str | None) -> Span | SpanContext:
        with self._lock:
            found = self._spans.get(operation_id)
        return found if found is not None else self._parent(parent_id)

    def _attempt_links(self) -> list[SpanContext]:
        return [self._workflow] if self._workflow is not None else []
