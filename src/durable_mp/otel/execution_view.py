"""The execution view: one tree for the whole execution, however many invocations ran it.

::

    Workflow (exported once, by the invocation that ends the execution)
    ├── Invocation (one per invocation; the ambient Lambda span's child when there is one)
    └── operation span (exported once, when the operation ends, whichever invocation)
        ├── nested operations
        └── "<step> attempt <n>" (the body, timed where it ran)
            └── spans user code made in the body (in the worker process)

Operation spans carry the ids derived from the execution and operation
(``ids.operation_span_id``), so an operation's children made by any invocation name the
same parent, and the parent is exported once, when the operation ends. Until then it is
a placeholder: a span context, plus the earliest start and latest end of its children seen
by this invocation, so the exported span encloses them. Each operation and attempt span
links to the Invocation span that made it. Names, ``durable.*`` attributes, statuses and
links are those of the official package's ``ExecutionOtelPlugin``. A context without a
checkpoint of its own (a virtual child context) exists in one invocation: its span gets a
fresh id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from durable_mp.otel.base import (
    TracingPlugin,
    operation_attributes,
    record_operation_outcome,
    to_ns,
)
from durable_mp.otel.ids import operation_span_id, random_span_id
from durable_mp.otel.tracing import start_span
from durable_mp.plugin import (
    InvocationEndInfo,
    InvocationStartInfo,
    OperationEndInfo,
    OperationStartInfo,
    OperationType,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)

if TYPE_CHECKING:
    from opentelemetry.trace import SpanContext

    from durable_mp.otel.config import OtelPluginConfig

_WORKFLOW_SCOPE = "workflow"
_STEP_NS = 1_000


@dataclass
class _Placeholder:
    """An operation not yet exported: its span context, and what it must enclose."""

    context: SpanContext
    earliest_ns: int | None = None
    latest_ns: int | None = None

    def include(self, start_ns: int | None = None, end_ns: int | None = None) -> None:
        self.earliest_ns = _earliest(self.earliest_ns, start_ns)
        self.latest_ns = _latest(self.latest_ns, end_ns)


class ExecutionOtelPlugin(TracingPlugin):
    """One invocation's spans in the execution view (see the module docstring)."""

    view = "execution"

    def __init__(self, config: OtelPluginConfig | None = None) -> None:
        super().__init__(config)
        self._placeholders: dict[str, _Placeholder] = {}
        self._checkpointed_contexts: set[str] = set()
        self._exported: set[str] = set()

    # -- invocation -----------------------------------------------------------------------

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        if not self._begin(info):
            return
        assert self._workflow is not None
        self._start_invocation(info, self._ambient() or self._workflow)
        self._attach(_WORKFLOW_SCOPE, self._workflow)

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        if not self._enabled:
            return
        self._detach_all()
        self._end_open_attempts()
        self._end_invocation(info)

    # -- operations -----------------------------------------------------------------------

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if not self._enabled:
            return
        if info.operation_type is OperationType.CONTEXT:
            with self._lock:
                self._checkpointed_contexts.add(info.operation_id)
            return
        self._placeholder(info.operation_id).include(start_ns=to_ns(info.start_time))

    def on_operation_end(self, info: OperationEndInfo) -> None:
        """Export the operation's one span (not for a replay that re-ran a context)."""
        if not self._enabled or info.is_replayed:
            return
        assert self._tracer is not None and self._invocation is not None
        with self._lock:
            if info.operation_id in self._exported:
                return
            self._exported.add(info.operation_id)
            placeholder = self._placeholders.pop(info.operation_id, None)
        if placeholder is None:
            derived = operation_span_id(self._arn, info.operation_id)
            placeholder = _Placeholder(self._context(derived))
        start = _earliest(to_ns(info.start_time), placeholder.earliest_ns)
        end = _latest(to_ns(info.end_time), placeholder.latest_ns)
        if start is None:
            start = end if end is not None else self._tick()
        end = max(end if end is not None else self._tick(), start + _STEP_NS)
        span = start_span(
            self._tracer,
            info.name or info.operation_id,
            parent=self._parent(info.parent_id),
            start_ns=start,
            attributes=operation_attributes(self._arn, info),
            links=[self._invocation.get_span_context()],
            span_id=placeholder.context.span_id,
        )
        record_operation_outcome(span, info)
        span.end(end)
        self._include_in_parent(info.parent_id, start, end)

    def _placeholder(self, operation_id: str, *, derived: bool = True) -> _Placeholder:
        with self._lock:
            found = self._placeholders.get(operation_id)
            if found is None:
                span_id = (
                    operation_span_id(self._arn, operation_id) if derived else random_span_id()
                )
                found = self._placeholders[operation_id] = _Placeholder(self._context(span_id))
            return found

    def _parent(self, parent_id: str | None) -> SpanContext:
        """An operation's parent: its parent operation (derivable from its id even when
        another invocation started it), or the Workflow span."""
        if parent_id is None:
            assert self._workflow is not None
            return self._workflow
        with self._lock:
            found = self._placeholders.get(parent_id)
        if found is not None:
            return found.context
        return self._context(operation_span_id(self._arn, parent_id))

    def _include_in_parent(self, parent_id: str | None, start_ns: int, end_ns: int) -> None:
        self._note_end(end_ns)
        if parent_id is None:
            return
        with self._lock:
            parent = self._placeholders.get(parent_id)
            if parent is not None:
                parent.include(start_ns, end_ns)

    # -- user functions -------------------------------------------------------------------

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        if not self._enabled:
            return
        if info.operation_type is OperationType.STEP:
            self._start_attempt(info)
            return
        with self._lock:
            checkpointed = info.operation_id in self._checkpointed_contexts
        placeholder = self._placeholder(
            info.operation_id, derived=checkpointed or info.is_replay_children
        )
        placeholder.include(start_ns=to_ns(info.start_time))
        self._attach(f"context:{info.operation_id}", placeholder.context)

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        if not self._enabled:
            return
        if info.operation_type is OperationType.STEP:
            self._end_attempt(info)
            return
        end = to_ns(info.end_time)
        with self._lock:
            placeholder = self._placeholders.get(info.operation_id)
        if placeholder is not None:
            placeholder.include(end_ns=end)
        self._detach(f"context:{info.operation_id}")

    # -- attempts -------------------------------------------------------------------------

    def _attempt_parent(self, operation_id: str, parent_id: str | None) -> SpanContext:
        return self._placeholder(operation_id).context

    def _attempt_links(self) -> list[SpanContext]:
        return [self._invocation.get_span_context()] if self._invocation is not None else []

    def _note_attempt_start(self, operation_id: str, start_ns: int) -> None:
        self._placeholder(operation_id).include(start_ns=start_ns)

    def _note_attempt_end(self, operation_id: str, parent_id: str | None, end_ns: int) -> None:
        self._note_end(end_ns)
        self._placeholder(operation_id).include(end_ns=end_ns)


def _earliest(*moments: int | None) -> int | None:
    known = [moment for moment in moments if moment is not None]
    return min(known) if known else None


def _latest(*moments: int | None) -> int | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None
