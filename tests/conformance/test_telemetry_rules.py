"""The span-assertion rules of ``telemetry.py``: each passes what it should and fails what
it should, on hand-made spans (no execution runs here)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tests.conformance.telemetry import (
    Span,
    bind,
    canonical,
    correlated,
    span_assertion_errors,
    telemetry_errors,
    value_errors,
)

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f/durable-execution/e/1"
T = "a" * 32
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def span(
    name: str,
    span_id: str,
    start: float,
    end: float,
    *,
    parent: str | None = None,
    trace: str = T,
    links: tuple[str, ...] = (),
    status: str = "OK",
    **attributes: Any,
) -> Span:
    attrs = {"durable.execution.arn": ARN, **{k.replace("_", "."): v for k, v in attributes.items()}}
    return Span(
        trace_id=trace,
        span_id=span_id,
        name=name,
        start_time=at(start),
        end_time=at(end),
        parent_span_id=parent,
        status=status,
        service_name="svc",
        attributes=attrs,
        links=tuple((trace, link) for link in links),
    )


# A workflow, two invocations, a step whose attempt ran in the first.
WORKFLOW = span("Workflow", "0" * 15 + "1", 0, 10)
INV1 = span("Invocation", "0" * 15 + "2", 1, 3, parent=WORKFLOW.span_id, durable_invocation_first=True)
INV2 = span("Invocation", "0" * 15 + "3", 5, 9, parent=WORKFLOW.span_id, durable_invocation_first=False)
STEP = span("step", "0" * 15 + "4", 1.5, 2.5, parent=WORKFLOW.span_id, links=(INV1.span_id,))
ATTEMPT = span("step attempt 1", "0" * 15 + "5", 1.6, 2.4, parent=STEP.span_id, links=(INV1.span_id,))
SPANS = [WORKFLOW, INV1, INV2, STEP, ATTEMPT]


def errors(*assertions: dict[str, Any], spans: list[Span] = SPANS, **options: Any) -> list[str]:
    return span_assertion_errors(spans, {"span_assertions": list(assertions), **options})


# -- values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ("*", None, True),
        ("${/^otel-(a|b)$/}", "otel-b", True),
        ("${/^otel-(a|b)$/}", "otel-c", False),
        ({"$any_of": ["UNSET", "OK"]}, "OK", True),
        ({"$any_of": ["UNSET", "OK"]}, "ERROR", False),
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 1}, {"b": 2}, False),
        ([1, 2], [1, 2], True),
        ([1, 2], [1, 2, 3], False),
        (True, True, True),
        (1, True, False),
        (True, 1, False),
        (None, None, True),
        (None, "x", False),
    ],
)
def test_values(expected: Any, actual: Any, ok: bool) -> None:
    assert (not value_errors(expected, actual, "v")) is ok


def test_placeholders_are_bound_keeping_types_and_regexes() -> None:
    bound = bind({"a": "${N}", "b": "x-${N}", "c": "${/^${N}$/}", "d": ["${B}"]}, {"N": 1, "B": True})
    assert bound == {"a": 1, "b": "x-1", "c": "${/^${N}$/}", "d": [True]}
    with pytest.raises(LookupError, match="MISSING"):
        bind("${MISSING}", {})


# -- select and count -------------------------------------------------------------------


def test_select_takes_exactly_one_unless_count_says_otherwise() -> None:
    assert not errors({"select": {"name": "Workflow"}, "expect": {"status": "OK"}})
    assert errors({"select": {"name": "Invocation"}, "expect": {}})  # two match
    assert not errors({"select": {"name": "Invocation"}, "count": 2, "expect": {}})
    assert not errors({"select": {"name": "Invocation"}, "count": {"$any_of": [1, 2]}, "expect": {}})
    assert errors({"select": {"name": "nothing"}, "expect": {}})


def test_a_span_picked_once_is_not_picked_again() -> None:
    first = {"select": {"name": "Invocation", "attributes": {"durable.invocation.first": True}}, "expect": {}}
    assert not errors(first, {"select": {"name": "Invocation"}, "expect": {}})
    assert errors(first, {"select": {"name": "Invocation"}, "count": 2, "expect": {}})


def test_expect_is_partial_and_fails_on_a_difference() -> None:
    assert not errors({"select": {"name": "step"}, "expect": {"kind": "INTERNAL", "parent_span_id": WORKFLOW.span_id}})
    assert errors({"select": {"name": "step"}, "expect": {"status": "ERROR"}})
    assert errors({"select": {"name": "Workflow"}, "expect": {"parent_span_id": "0" * 16}})
    assert not errors({"select": {"name": "Workflow"}, "expect": {"parent_span_id": None}})


# -- parent -----------------------------------------------------------------------------


def test_parent_must_match_and_contain_the_child() -> None:
    assert not errors({"select": {"name": "step attempt 1"}, "expect": {"parent": {"name": "step"}}})
    assert errors({"select": {"name": "step attempt 1"}, "expect": {"parent": {"name": "Workflow"}}})
    late = span("late", "0" * 15 + "9", 9.5, 11, parent=WORKFLOW.span_id)
    found = errors({"select": {"name": "late"}, "expect": {"parent": {"name": "Workflow"}}}, spans=[*SPANS, late])
    assert found and "not inside its parent" in found[0]
    assert not errors(
        {"select": {"name": "late"}, "expect": {"parent": {"$allow_outside": True, "name": "Workflow"}}},
        spans=[*SPANS, late],
    )
    assert errors({"select": {"name": "Workflow"}, "expect": {"parent": {"name": "x"}}})  # none


def test_a_parent_in_another_trace_is_not_the_parent() -> None:
    stray = span("stray", "0" * 15 + "8", 2, 3, parent=WORKFLOW.span_id, trace="b" * 32)
    assert errors({"select": {"name": "stray"}, "expect": {"parent": {"name": "Workflow"}}}, spans=[*SPANS, stray])


# -- links ------------------------------------------------------------------------------


def test_links_are_matched_in_order_and_by_number() -> None:
    assert not errors({"select": {"name": "step"}, "expect": {"links": [{"name": "Invocation"}]}})
    assert errors({"select": {"name": "step"}, "expect": {"links": [{"name": "Workflow"}]}})
    assert errors({"select": {"name": "step"}, "expect": {"links": []}})
    assert not errors({"select": {"name": "Workflow"}, "expect": {"links": []}})


def test_link_occurrence_counts_matching_spans_by_start_time() -> None:
    assert not errors({"select": {"name": "step"}, "expect": {"links": [{"$occurrence": 1, "name": "Invocation"}]}})
    assert errors({"select": {"name": "step"}, "expect": {"links": [{"$occurrence": 2, "name": "Invocation"}]}})


def test_link_count_counts_duplicate_exports() -> None:
    again = span("Invocation", INV1.span_id, 1, 3, parent=WORKFLOW.span_id, durable_invocation_first=True)
    spans = [*SPANS, again]
    assert errors({"select": {"name": "step"}, "expect": {"links": [{"name": "Invocation"}]}}, spans=spans)
    assert not errors({"select": {"name": "step"}, "expect": {"links": [{"count": 2, "name": "Invocation"}]}}, spans=spans)


def test_a_link_to_a_missing_span_fails() -> None:
    lost = span("lost", "0" * 15 + "7", 2, 3, parent=WORKFLOW.span_id, links=("f" * 16,))
    assert errors({"select": {"name": "lost"}, "expect": {"links": [{"name": "Invocation"}]}}, spans=[*SPANS, lost])


# -- before, after, inside --------------------------------------------------------------


def test_temporal_relations() -> None:
    first = {"attributes": {"durable.invocation.first": True}, "name": "Invocation"}
    second = {"attributes": {"durable.invocation.first": False}, "name": "Invocation"}
    assert not errors({"select": first, "expect": {"before": second}})
    assert errors({"select": second, "expect": {"before": first}})
    assert not errors({"select": second, "expect": {"after": first}})
    assert errors({"select": first, "expect": {"after": second}})
    assert not errors({"select": {"name": "step attempt 1"}, "expect": {"inside": {"$linked": True, "name": "Invocation"}}})
    assert errors({"select": {"name": "step attempt 1"}, "expect": {"inside": second}})
    # without $linked, "Invocation" names two spans: a relation needs exactly one
    assert errors({"select": {"name": "step attempt 1"}, "expect": {"inside": {"name": "Invocation"}}})


# -- coverage and exact attributes ------------------------------------------------------


def test_require_all_spans_within_the_scope() -> None:
    all_but_attempt = [
        {"select": {"name": name}, "count": {"$any_of": [1, 2]}, "expect": {}}
        for name in ("Workflow", "Invocation", "step")
    ]
    found = errors(*all_but_attempt, require_all_spans=True)
    assert found and "step attempt 1" in found[0]
    outside = {"attributes": {"durable.execution.arn": "another"}}
    assert not errors(*all_but_attempt, require_all_spans=True, span_assertion_scope=outside)


def test_exact_attribute_prefixes_need_every_attribute_listed() -> None:
    listed = {"select": {"name": "Workflow"}, "expect": {"attributes": {"durable.execution.arn": ARN}}}
    assert not errors(listed, exact_attribute_prefixes=["durable."])
    found = errors(
        {"select": {"name": "step"}, "expect": {"attributes": {"durable.execution.arn": ARN}}},
        spans=[*SPANS[:3], span("step", STEP.span_id, 1.5, 2.5, parent=WORKFLOW.span_id, durable_extra=1)],
        exact_attribute_prefixes=["durable."],
    )
    assert found and "durable.extra" in found[0]


# -- whole-trace checks -----------------------------------------------------------------


def test_minimums_roots_and_time_order() -> None:
    assert not telemetry_errors(SPANS, {"minimum_spans": 5, "minimum_invocations": 2}, ARN)
    assert telemetry_errors(SPANS, {"minimum_spans": 6}, ARN)
    assert telemetry_errors(SPANS, {"minimum_invocations": 3}, ARN)
    second_root = span("another root", "0" * 15 + "6", 0, 1)
    assert telemetry_errors([*SPANS, second_root], {"require_unique_root_per_trace": True}, ARN)
    assert not telemetry_errors([*SPANS, WORKFLOW], {"require_unique_root_per_trace": True}, ARN)
    backwards = span("backwards", "0" * 15 + "6", 2, 1, parent=WORKFLOW.span_id)
    assert telemetry_errors([*SPANS, backwards], {}, ARN)


def test_execution_correlation() -> None:
    assert not telemetry_errors(SPANS, {}, ARN)
    assert telemetry_errors(SPANS, {}, ARN + "-other")  # the ARN is on no span
    other = span("other", "0" * 15 + "6", 2, 3, parent=WORKFLOW.span_id)
    other = Span(**{**other.__dict__, "attributes": {"durable.execution.arn": "arn:x"}})
    assert telemetry_errors([*SPANS, other], {}, ARN)
    assert not telemetry_errors([*SPANS, other], {"allowed_execution_arns": [ARN, "arn:x"]}, ARN)
    assert not telemetry_errors(SPANS[:1], {"require_execution_correlation": False}, "arn:none")


def test_correlated_view_takes_the_workflow_trace_and_arn_spans_elsewhere() -> None:
    elsewhere = span("Invocation", "0" * 15 + "6", 1, 2, trace="b" * 32, durable_invocation_first=True)
    unrelated = Span("c" * 32, "0" * 15 + "7", "noise", at(0), at(1))
    same_trace_no_arn = Span(T, "0" * 15 + "8", "user span", at(1.7), at(1.8), parent_span_id=ATTEMPT.span_id)
    view = correlated([*SPANS, elsewhere, unrelated, same_trace_no_arn], [ARN])
    assert elsewhere in view and same_trace_no_arn in view and unrelated not in view


def test_canonical_form_of_an_sdk_span() -> None:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("parent") as parent:
        with tracer.start_as_current_span("child", attributes={"k": 1}) as child:
            child.set_status(StatusCode.ERROR)
    done = {s.name: canonical(s) for s in exporter.get_finished_spans()}
    assert done["child"].parent_span_id == done["parent"].span_id
    assert done["child"].status == "ERROR" and done["parent"].status == "UNSET"
    assert done["child"].attributes["k"] == 1 and done["child"].attributes["service.name"] == "svc"
    assert done["child"].service_name == "svc" and done["child"].kind == "INTERNAL"
    assert done["parent"].parent_span_id is None and len(done["parent"].trace_id) == 32
    assert done["child"].start_time <= done["child"].end_time
    assert f"{parent.get_span_context().span_id:016x}" == done["parent"].span_id
