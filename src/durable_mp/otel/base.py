"""What both trace views share: one invocation's identity on the execution's trace, the
``durable.*`` attributes, the Workflow and Invocation spans, and the step attempt spans
whose context travels to the worker (and whose worker spans come back).

A plugin instance serves one invocation (the factories make one per invocation); hooks
arrive on many threads at once (map items, branches), so its maps are guarded by a lock.
Spans the plugin times itself get non-decreasing start times within the invocation, so
"this before that" holds even when two hooks read the same clock tick.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanContext, SpanKind, StatusCode, TraceFlags

from durable_mp.lambda_service import OperationStatus
from durable_mp.otel.config import OtelPluginConfig
from durable_mp.otel.ids import execution_trace_id, operation_span_id, random_span_id
from durable_mp.otel.ids import workflow_span_id as derive_workflow_span_id
from durable_mp.otel.tracing import emit_finished, now_ns, sdk_tracer, start_span
from durable_mp.otel.upstream import default_context_extractor
from durable_mp.otel.worker import ShippedSpans, StepSpanContext
from durable_mp.plugin import (
    DurableInstrumentationPlugin,
    InvocationEndInfo,
    InvocationStartInfo,
    InvocationStatus,
    OperationEndInfo,
    OperationType,
    PropagationInput,
    PropagationMetadata,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
    WorkerContextFactory,
)

if TYPE_CHECKING:
    import datetime

    from opentelemetry.sdk.trace import Tracer as SdkTracer
    from opentelemetry.trace import Span

    from durable_mp.lambda_service import ErrorObject
    from durable_mp.otel.upstream import ExtractedContext

logger = logging.getLogger("durable_mp.otel")

# durable-mp's own attributes; the ``durable.*`` ones are the official package's.
EXECUTOR_ATTRIBUTE = "durable_mp.executor"
WORKER_PID_ATTRIBUTE = "durable_mp.worker.pid"
REPLAYED_ATTRIBUTE = "durable_mp.operation.replayed"
TRUNCATED_ATTRIBUTE = "durable_mp.span.truncated"
DROPPED_ATTRIBUTE = "durable_mp.worker.dropped_spans"

_STEP_NS = 1_000  # a microsecond: the smallest step between two spans' times
_warned: set[str] = set()


def warn_once(key: str, message: str, *args: object) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message, *args)


def to_ns(moment: datetime.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1_000_000_000)


def operation_attributes(arn: str, info: Any) -> dict[str, Any]:
    """``durable.*`` of an operation span (and of a context's span in the invocation view)."""
    attributes: dict[str, Any] = {
        "durable.execution.arn": arn,
        "durable.operation.id": info.operation_id,
        "durable.operation.type": info.operation_type.value,
    }
    if info.sub_type is not None:
        attributes["durable.operation.subtype"] = info.sub_type
    if info.status is not None:
        attributes["durable.operation.status"] = info.status.value
    if info.name is not None:
        attributes["durable.operation.name"] = info.name
    if info.operation_type is not OperationType.CONTEXT and info.attempt is not None:
        attributes["durable.attempt.number"] = info.attempt
    return attributes


def attempt_attributes(arn: str, info: UserFunctionStartInfo) -> dict[str, Any]:
    """``durable.*`` of a step attempt's span, and where the body ran."""
    attributes: dict[str, Any] = {
        "durable.execution.arn": arn,
        "durable.operation.id": info.operation_id,
        "durable.operation.type": info.operation_type.value,
    }
    if info.sub_type is not None:
        attributes["durable.operation.subtype"] = info.sub_type
    if info.name is not None:
        attributes["durable.operation.name"] = info.name
    attributes["durable.attempt.number"] = info.attempt or 1
    if info.executor is not None:
        attributes[EXECUTOR_ATTRIBUTE] = info.executor
        if info.executor == "process" and info.worker_pid is not None:
            attributes[WORKER_PID_ATTRIBUTE] = info.worker_pid
    return attributes


_FAILED_OPERATION = (OperationStatus.FAILED, OperationStatus.TIMED_OUT, OperationStatus.STOPPED)


def record_operation_outcome(span: Span, info: OperationEndInfo) -> None:
    """An ended operation's span status: ERROR (with its error) or OK once it succeeded."""
    if info.error is not None or info.status in _FAILED_OPERATION:
        record_error(span, info.error)
    elif info.status is OperationStatus.SUCCEEDED:
        span.set_status(StatusCode.OK)


def record_error(span: Span, error: ErrorObject | None) -> None:
    """ERROR status and an ``exception`` event (OpenTelemetry's semantic conventions)."""
    if error is None:
        span.set_status(StatusCode.ERROR)
        return
    span.set_status(StatusCode.ERROR, error.message or error.type or "")
    event: dict[str, Any] = {}
    if error.type:
        event["exception.type"] = error.type
    if error.message:
        event["exception.message"] = error.message
    if error.stack_trace:
        event["exception.stacktrace"] = "\n".join(error.stack_trace)
    span.add_event("exception", event)


class TracingPlugin(DurableInstrumentationPlugin):
    """The part both views share; see the module docstring."""

    view: ClassVar[str]

    def __init__(self, config: OtelPluginConfig | None = None) -> None:
        self.config = config or OtelPluginConfig()
        self._lock = threading.RLock()
        self._enabled = False
        self._provider: Any = None
        self._tracer: SdkTracer | None = None
        self._arn = ""
        self._trace_id = 0
        self._flags = TraceFlags(TraceFlags.SAMPLED)
        self._execution_start: datetime.datetime | None = None
        self._upstream_parent: SpanContext | None = None
        self._workflow: SpanContext | None = None
        self._invocation: Span | None = None
        self._attempt_ids: dict[tuple[str, int], int] = {}
        self._attempts: dict[tuple[str, int], Span] = {}
        self._tokens: dict[str, tuple[int, object]] = {}
        self._floor_ns = 0
        self._latest_end_ns = 0

    # -- the invocation ---------------------------------------------------------------

    def _begin(self, info: InvocationStartInfo) -> bool:
        """Resolve the tracer and the execution's trace; False: nothing is traced."""
        provider = self.config.tracer_provider or trace.get_tracer_provider()
        tracer = sdk_tracer(provider, self.config.instrument_name)
        if tracer is None:
            warn_once(
                "no-sdk",
                "durable_mp.otel: no OpenTelemetry SDK tracer provider is configured "
                "(got %s); nothing is traced. Set one with trace.set_tracer_provider() "
                "or pass OtelPluginConfig(tracer_provider=...)",
                type(provider).__name__,
            )
            return False
        if not info.execution_arn or info.execution_start_time is None:
            warn_once(
                "no-identity",
                "durable_mp.otel: the invocation has no execution ARN or start time; "
                "its trace cannot be derived, nothing is traced",
            )
            return False
        self._provider, self._tracer = provider, tracer
        self._arn, self._execution_start = info.execution_arn, info.execution_start_time
        upstream = self._extract(info)
        self._trace_id = (upstream.trace_id if upstream else None) or execution_trace_id(
            self._arn, info.execution_start_time
        )
        sampled = upstream.sampled if upstream is not None else None
        if sampled is None:
            sampled = self._sampler_says(tracer)
        self._flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
        if upstream is not None and upstream.is_complete and upstream.parent_span_id:
            self._upstream_parent = self._context(upstream.parent_span_id, remote=True)
        self._workflow = self._context(derive_workflow_span_id(self._arn))
        self._enabled = True
        return True

    def _extract(self, info: InvocationStartInfo) -> ExtractedContext | None:
        extractor = self.config.context_extractor or default_context_extractor
        try:
            return extractor(info)
        except Exception:
            logger.exception("durable_mp.otel: the context extractor failed; ignoring it")
            return None

    def _sampler_says(self, tracer: SdkTracer) -> bool:
        """The provider's sampler on the Workflow span: the same answer in every
        invocation for any sampler that decides by trace id."""
        decision = tracer.sampler.should_sample(
            Context(),
            self._trace_id,
            self.config.workflow_span_name,
            SpanKind.INTERNAL,
            {"durable.execution.arn": self._arn},
        )
        return decision.decision in (Decision.RECORD_AND_SAMPLE,)

    def _context(self, span_id: int, *, remote: bool = False) -> SpanContext:
        return SpanContext(self._trace_id, span_id, is_remote=remote, trace_flags=self._flags)

    def _start_invocation(self, info: InvocationStartInfo, parent: SpanContext | Span) -> None:
        assert self._tracer is not None
        self._invocation = start_span(
            self._tracer,
            "Invocation",
            parent=parent,
            start_ns=self._tick(),
            attributes={
                "durable.execution.arn": self._arn,
                "durable.invocation.first": info.is_first_invocation,
            },
        )

    def _ambient(self) -> Span | None:
        """The span current when the invocation began (a Lambda instrumentation's)."""
        span = trace.get_current_span()
        return span if span.get_span_context().is_valid else None

    def _end_invocation(self, info: InvocationEndInfo) -> None:
        """Invocation span, then (terminal statuses only) the Workflow span, then flush."""
        self._detach_all()
        invocation = self._invocation
        if invocation is not None:
            status = "RETRYING" if info.status is InvocationStatus.RETRY else info.status.value
            invocation.set_attribute("durable.invocation.status", status)
            if info.status is InvocationStatus.FAILED:
                record_error(invocation, info.error)
            elif info.status is not InvocationStatus.RETRY:
                invocation.set_status(StatusCode.OK)
            invocation.end(self._tick())
        if info.status in (InvocationStatus.SUCCEEDED, InvocationStatus.FAILED):
            self._export_workflow(info)
        self._enabled = False
        flush = getattr(self._provider, "force_flush", None)
        if callable(flush):
            try:
                flush()
            except Exception:
                logger.exception("durable_mp.otel: flushing the tracer provider failed")

    def _export_workflow(self, info: InvocationEndInfo) -> None:
        """The execution's one Workflow span, made by the invocation that ends it."""
        assert self._tracer is not None and self._workflow is not None
        start = to_ns(self._execution_start) or self._tick()
        span = start_span(
            self._tracer,
            self.config.workflow_span_name,
            parent=self._upstream_parent,
            start_ns=start,
            attributes={
                "durable.execution.arn": self._arn,
                "durable.execution.status": info.status.value,
            },
            span_id=self._workflow.span_id,
            trace_id=self._trace_id,
        )
        if info.status is InvocationStatus.FAILED:
            record_error(span, info.error)
        else:
            span.set_status(StatusCode.OK)
        span.end(max(self._tick(), self._latest_end_ns, start + _STEP_NS))

    # -- clocks -------------------------------------------------------------------------

    def _tick(self) -> int:
        """Now, never before the previous tick of this invocation."""
        with self._lock:
            moment = max(now_ns(), self._floor_ns + _STEP_NS)
            self._floor_ns = moment
            return moment

    def _note_end(self, end_ns: int) -> None:
        with self._lock:
            self._latest_end_ns = max(self._latest_end_ns, end_ns)

    # -- the current span on a thread ---------------------------------------------------

    def _attach(self, key: str, span: Span | SpanContext) -> None:
        from durable_mp.otel.tracing import parent_context

        with self._lock:
            self._detach(key)
            context = parent_context(span)
            self._tokens[key] = (threading.get_ident(), otel_context.attach(context))

    def _detach(self, key: str) -> None:
        with self._lock:
            entry = self._tokens.pop(key, None)
        if entry is not None and entry[0] == threading.get_ident():
            otel_context.detach(entry[1])  # type: ignore[arg-type]

    def _detach_all(self) -> None:
        with self._lock:
            keys = list(reversed(self._tokens))
        for key in keys:
            self._detach(key)

    # -- step attempts ------------------------------------------------------------------

    def _attempt_parent(self, operation_id: str, parent_id: str | None) -> SpanContext | Span:
        """The span an attempt of ``operation_id`` hangs under (the view decides)."""
        raise NotImplementedError

    def _attempt_links(self) -> list[SpanContext]:
        raise NotImplementedError

    def provide_worker_context(self, info: UserFunctionStartInfo) -> WorkerContextFactory | None:
        """The attempt's span id is chosen now, so the body's spans can name it as parent
        in the worker before the span itself is made (by ``on_user_function_start``)."""
        if not self._enabled or info.operation_type is not OperationType.STEP:
            return None
        span_id = random_span_id()
        with self._lock:
            self._attempt_ids[(info.operation_id, info.attempt or 1)] = span_id
        return StepSpanContext(self._trace_id, span_id, int(self._flags))

    def _start_attempt(self, info: UserFunctionStartInfo) -> None:
        assert self._tracer is not None
        key = (info.operation_id, info.attempt or 1)
        with self._lock:
            span_id = self._attempt_ids.pop(key, None)
        start = to_ns(info.start_time) or self._tick()
        span = start_span(
            self._tracer,
            f"{info.name or info.operation_id} attempt {info.attempt or 1}",
            parent=self._attempt_parent(info.operation_id, info.parent_id),
            start_ns=start,
            attributes=attempt_attributes(self._arn, info),
            links=self._attempt_links(),
            span_id=span_id,
        )
        with self._lock:
            self._attempts[key] = span
        self._note_attempt_start(info.operation_id, start)

    def _end_attempt(self, info: UserFunctionEndInfo) -> None:
        key = (info.operation_id, info.attempt or 1)
        with self._lock:
            span = self._attempts.pop(key, None)
        if span is None:
            return
        if info.outcome.value != "INCOMPLETE":
            span.set_attribute("durable.attempt.outcome", info.outcome.value)
            if info.outcome.value == "FAILED":
                record_error(span, info.error)
            else:
                span.set_status(StatusCode.OK)
        else:
            span.set_attribute(TRUNCATED_ATTRIBUTE, True)
        start = to_ns(info.start_time) or 0
        end = max(to_ns(info.end_time) or self._tick(), start + _STEP_NS)
        span.end(end)
        self._note_attempt_end(info.operation_id, info.parent_id, end)

    def _note_attempt_start(self, operation_id: str, start_ns: int) -> None:
        """Where the view keeps what its operation spans must enclose (if it does)."""

    def _note_attempt_end(self, operation_id: str, parent_id: str | None, end_ns: int) -> None:
        self._note_end(end_ns)

    def _end_open_attempts(self) -> None:
        """Attempts the invocation ended before their body did (it suspended)."""
        with self._lock:
            spans, self._attempts = list(self._attempts.values()), {}
        for span in spans:
            span.set_attribute(TRUNCATED_ATTRIBUTE, True)
            span.end(self._tick())

    def on_worker_report(self, info: UserFunctionStartInfo, report: Any) -> None:
        """The spans user code made in the worker: re-emitted through our provider."""
        if not self._enabled or not isinstance(report, ShippedSpans):
            return
        for span in report.spans:
            emit_finished(self._provider, span)
        if report.dropped:
            with self._lock:
                attempt = self._attempts.get((info.operation_id, info.attempt or 1))
            if attempt is not None:
                attempt.set_attribute(DROPPED_ATTRIBUTE, report.dropped)

    # -- chained invokes ----------------------------------------------------------------

    def provide_propagation_metadata(self, info: PropagationInput) -> PropagationMetadata | None:
        """The invoke operation's span as the target's X-Ray parent (its id is derived,
        so it is the same before the operation's span exists)."""
        if not self._enabled or info.execution_arn != self._arn or not info.operation_id:
            return None
        trace_hex = f"{self._trace_id:032x}"
        span_hex = f"{operation_span_id(self._arn, info.operation_id):016x}"
        sampled = 1 if self._flags.sampled else 0
        return PropagationMetadata(
            x_amzn_trace_id=f"Root=1-{trace_hex[:8]}-{trace_hex[8:]};Parent={span_hex};"
            f"Sampled={sampled}"
        )
