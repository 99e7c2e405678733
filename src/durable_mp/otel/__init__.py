"""OpenTelemetry tracing for durable executions (the ``otel`` extra).

Two views of an execution, as the official ``aws-durable-execution-sdk-python-otel``
package draws them, with the same span names (``Workflow``, ``Invocation``, the
operation's name, ``<step> attempt <n>``) and ``durable.*`` attributes:

* :class:`InvocationOtelPluginFactory`: each invocation is a tree (Invocation ->
  operations -> attempts), all of an execution's invocations on one trace under its
  Workflow span (``durable_mp.otel.invocation_view``);
* :class:`ExecutionOtelPluginFactory`: one tree for the whole execution (Workflow ->
  operations -> attempts), each span linked to the invocation that made it
  (``durable_mp.otel.execution_view``).

durable-mp's additions: spans that user code creates inside a step body in a worker
process are children of the step attempt's span and are exported by the parent's
provider (``durable_mp.otel.worker``); attempt spans say where the body ran
(``durable_mp.executor``, ``durable_mp.worker.pid``); a W3C ``traceparent`` (execution
input or ``TRACEPARENT``) is honoured like the X-Ray header.

Nothing here configures an exporter: spans go to the provider you configure (or pass as
``OtelPluginConfig(tracer_provider=...)``).
"""

from __future__ import annotations

try:
    import opentelemetry.sdk.trace  # noqa: F401
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        "durable_mp.otel needs the OpenTelemetry SDK: pip install 'durable-mp[otel]'"
    ) from missing

from durable_mp.otel.config import OtelPluginConfig
from durable_mp.otel.execution_view import ExecutionOtelPlugin
from durable_mp.otel.factories import (
    EXECUTION_OTEL_PLUGIN_FACTORY,
    INVOCATION_OTEL_PLUGIN_FACTORY,
    ExecutionOtelPluginFactory,
    InvocationOtelPluginFactory,
)
from durable_mp.otel.ids import execution_trace_id, operation_span_id, workflow_span_id
from durable_mp.otel.invocation_view import InvocationOtelPlugin
from durable_mp.otel.upstream import (
    ContextExtractor,
    ExtractedContext,
    default_context_extractor,
    w3c_context_extractor,
    xray_context_extractor,
)

__all__ = [
    "EXECUTION_OTEL_PLUGIN_FACTORY",
    "INVOCATION_OTEL_PLUGIN_FACTORY",
    "ContextExtractor",
    "ExecutionOtelPlugin",
    "ExecutionOtelPluginFactory",
    "ExtractedContext",
    "InvocationOtelPlugin",
    "InvocationOtelPluginFactory",
    "OtelPluginConfig",
    "default_context_extractor",
    "execution_trace_id",
    "operation_span_id",
    "w3c_context_extractor",
    "workflow_span_id",
    "xray_context_extractor",
]
