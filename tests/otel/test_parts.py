"""The parts of durable_mp.otel on their own: ids, upstream context, the worker side of a
step's span, and copying a worker's spans into the parent's provider."""

from __future__ import annotations

import datetime
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from durable_mp.otel import ids
from durable_mp.otel.tracing import emit_finished, sdk_tracer, start_span
from durable_mp.otel.upstream import (
    default_context_extractor,
    parse_traceparent,
    parse_xray_header,
    w3c_context_extractor,
)
from durable_mp.otel.worker import finished_span
from durable_mp.plugin import InvocationStartInfo

ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/e/1"


def provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    made = TracerProvider(resource=Resource({"service.name": "parent"}))
    made.add_span_processor(SimpleSpanProcessor(exporter))
    return made, exporter


# -- ids --------------------------------------------------------------------------------


def test_ids_are_the_official_packages_so_both_join_the_same_trace() -> None:
    official = pytest.importorskip("aws_durable_execution_sdk_python_otel.deterministic_id_generator")
    started = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
    assert ids.operation_span_id(ARN, "op-1") == official.operation_id_to_span_id(ARN, "op-1")
    assert ids.workflow_span_id(ARN) == official.derive_workflow_span_id(ARN)
    assert ids.execution_trace_id(ARN, started) == official._to_otel_trace_id(ARN, started)
    assert f"{ids.execution_trace_id(ARN, started):032x}"[:8] == f"{int(started.timestamp()):08x}"
    assert ids.operation_span_id(ARN, "op-1") != ids.operation_span_id(ARN, "op-2")


# -- upstream context -------------------------------------------------------------------


def test_xray_headers() -> None:
    found = parse_xray_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    assert found is not None and found.is_complete and found.sampled is True
    assert found.trace_id == 0x5759E988BD862E3FE1BE46A994272793 and found.parent_span_id == 0x53995C3F42CD8AD8
    root_only = parse_xray_header("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0")
    assert root_only is not None and not root_only.is_complete and root_only.sampled is False
    assert parse_xray_header("Root=2-zz;Parent=short") is None
    assert parse_xray_header("garbage") is None


def test_w3c_traceparents() -> None:
    found = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert found is not None and found.is_complete and found.sampled is True
    assert parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").sampled is False  # type: ignore[union-attr]
    assert parse_traceparent("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None  # all-zero id
    assert parse_traceparent("not a traceparent") is None


def info_with(execution_input: Any) -> InvocationStartInfo:
    return InvocationStartInfo(
        request_id=None, execution_arn=ARN, is_first_invocation=True, execution_input=execution_input
    )


def test_the_default_extractor_prefers_xray_then_input_then_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    monkeypatch.setenv("TRACEPARENT", "00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    from_env = default_context_extractor(info_with({}))
    assert from_env is not None and from_env.trace_id == int("1" * 32, 16)
    carried = {"traceparent": "00-" + "3" * 32 + "-" + "4" * 16 + "-01"}
    assert w3c_context_extractor(info_with(carried)).trace_id == int("3" * 32, 16)  # type: ignore[union-attr]
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-55555555-555555555555555555555555;Parent=6666666666666666")
    assert default_context_extractor(info_with(carried)).trace_id == int("5" * 32, 16)  # type: ignore[union-attr]
    monkeypatch.delenv("_X_AMZN_TRACE_ID")
    monkeypatch.delenv("TRACEPARENT")
    assert default_context_extractor(info_with("not a mapping")) is None


# -- forced ids and copies of worker spans ----------------------------------------------


def test_forced_ids_apply_to_one_span_only() -> None:
    made, _ = provider()
    tracer = sdk_tracer(made, "t")
    assert tracer is not None
    first = start_span(tracer, "forced", parent=None, start_ns=1, attributes={}, span_id=7, trace_id=9)
    second = tracer.start_span("free")
    first.end(2)
    second.end()
    assert (first.get_span_context().trace_id, first.get_span_context().span_id) == (9, 7)
    assert second.get_span_context().span_id != 7 and second.get_span_context().trace_id != 9


def test_a_worker_span_copied_into_the_parent_keeps_everything_but_the_resource() -> None:
    worker, worker_spans = provider()
    parent, parent_spans = provider()
    tracer = worker.get_tracer("user.code", "1.2")
    with tracer.start_as_current_span("outer"):
        with tracer.start_as_current_span("inner", attributes={"k": [1, 2]}) as inner:
            inner.add_event("happened", {"n": 1})
            inner.set_status(StatusCode.ERROR, "it broke")
    originals = {s.name: s for s in worker_spans.get_finished_spans()}
    for span in worker_spans.get_finished_spans():
        assert emit_finished(parent, finished_span(span))
    copies = {s.name: s for s in parent_spans.get_finished_spans()}
    for name in ("outer", "inner"):
        original, copy = originals[name], copies[name]
        assert copy.context.trace_id == original.context.trace_id
        assert copy.context.span_id == original.context.span_id
        assert (copy.parent.span_id if copy.parent else None) == (
            original.parent.span_id if original.parent else None
        )
        assert (copy.start_time, copy.end_time) == (original.start_time, original.end_time)
        assert dict(copy.attributes) == dict(original.attributes)
        assert copy.instrumentation_scope.name == "user.code"
        assert copy.instrumentation_scope.version == "1.2"
        assert copy.resource.attributes["service.name"] == "parent"
    assert [(e.name, dict(e.attributes)) for e in copies["inner"].events] == [("happened", {"n": 1})]
    assert copies["inner"].status.status_code is StatusCode.ERROR
    assert copies["inner"].status.description == "it broke"


# -- the worker side, in a fresh interpreter (as a worker process is) --------------------


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


WORKER_PRELUDE = """
    import os
    from opentelemetry import trace
    from durable_mp.otel import worker
    from durable_mp.workers import worker as link
    link._link = object()  # as in a worker process
    step = worker.StepSpanContext(trace_id=0xABC, span_id=0xDEF, trace_flags=1)
"""


def test_a_fresh_worker_ships_the_body_spans_under_the_attempt() -> None:
    out = run_python(
        WORKER_PRELUDE
        + """
    scope = step()
    with scope:
        with trace.get_tracer("user").start_as_current_span("made-here"):
            pass
    report = scope.worker_report()
    (span,) = report.spans
    print(span.name, hex(span.trace_id), hex(span.parent_span_id),
          span.attributes["durable_mp.worker.pid"] == os.getpid(), report.dropped)
    again = step()
    with again:
        pass
    print(again.worker_report())
    """
    )
    assert out.splitlines() == ["made-here 0xabc 0xdef True 0", "None"]


def test_a_worker_with_a_provider_of_its_own_keeps_it_and_flushes_it() -> None:
    out = run_python(
        WORKER_PRELUDE
        + """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    own = TracerProvider()
    own.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(own)
    flushed = []
    own.force_flush = lambda *a: flushed.append(True) or True
    scope = step()
    with scope:
        with trace.get_tracer("user").start_as_current_span("made-here"):
            pass
    (span,) = exporter.get_finished_spans()
    print(scope.worker_report(), hex(span.parent.span_id), flushed)
    """
    )
    assert out == "None 0xdef [True]"


def test_a_worker_that_forks_gives_the_child_an_empty_buffer_and_a_free_lock() -> None:
    out = run_python(
        WORKER_PRELUDE
        + """
    scope = step()
    with scope:
        with trace.get_tracer("user").start_as_current_span("before-fork"):
            pass
    collector = worker._collector
    collector._lock.acquire()  # held by a thread at the moment of the fork
    pid = os.fork()
    if pid == 0:
        free = collector._lock.acquire(timeout=2)
        if free:
            collector._lock.release()
        os._exit(0 if free and collector.drain() is None else 1)
    _, status = os.waitpid(pid, 0)
    collector._lock.release()
    print(os.waitstatus_to_exitcode(status), len(scope.worker_report().spans))
    """
    )
    assert out == "0 1"


def test_out_of_a_worker_the_context_only_makes_the_attempt_current() -> None:
    out = run_python(
        """
    from opentelemetry import trace
    from durable_mp.otel import worker
    step = worker.StepSpanContext(trace_id=0xABC, span_id=0xDEF, trace_flags=1)
    scope = step()
    with scope:
        current = trace.get_current_span().get_span_context()
    print(hex(current.span_id), scope.worker_report(), worker._collector,
          trace.get_current_span().get_span_context().is_valid)
    """
    )
    assert out == "0xdef None None False"
