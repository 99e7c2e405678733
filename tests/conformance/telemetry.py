"""The span-assertion rules of the OpenTelemetry requirements (``TelemetryAssertions``).

The rules are those of the conformance suite's OTel package (its CONTRIBUTING.md, see
``otel_requirements/README.md``), implemented here against spans as OpenTelemetry's SDK
finishes them. :func:`canonical` turns a finished span into the suite's canonical fields
(``trace_id``, ``span_id``, ``parent_span_id``, ``name``, ``kind``, ``start_time``,
``end_time``, ``status``, ``service_name``, ``attributes`` -- the resource's merged under
the span's -- and ``links``); :func:`correlated` gathers what a backend would return for
an execution; :func:`telemetry_errors` checks a requirement's assertions and returns every
failure, one line each (empty: it passes).

Assertion keys: ``minimum_spans``; ``minimum_invocations`` (spans named Invocation with a
``durable.invocation.first`` attribute); ``require_execution_correlation`` (default true:
some span carries the ARN, and no span another ARN than ``allowed_execution_arns``);
``require_unique_root_per_trace`` (at most one distinct parentless span per trace id);
every span starts before it ends; ``span_assertions``, in order, each ``select`` picking
spans not picked before (exactly one, or ``count``: a number or ``{$any_of: [...]}``) and
``expect`` applied to each: partial matches of canonical fields, plus ``parent`` (the
parent span, in the same trace, must match and contain the child unless
``$allow_outside: true``), ``links`` (one item per link, in order; ``count`` candidates of
that id must match; ``$occurrence: n``: the linked span is the n-th, by start time, of the
spans matching the item), ``before``/``after``/``inside`` (exactly one other span, or
only among linked spans with ``$linked: true``: ends before it starts / starts after it
ends / lies within it); ``require_all_spans`` (each span inside
``span_assertion_scope``'s selectors is picked by some assertion);
``exact_attribute_prefixes`` (an ``expect.attributes`` lists every attribute of the span
under those prefixes). Values: ``'*'`` accepts anything, ``${/re/}`` is a regex searched
in the text, ``{$any_of: [...]}`` accepts any alternative, mappings are partial,
sequences are compared item by item, anything else by equality (a boolean only equals a
boolean). ``${NAME}`` placeholders are bound before checking (:func:`bind`).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

EXECUTION_ATTRIBUTES = ("aws.lambda.durable_execution.arn", "durable.execution.arn", "durable_execution_arn")
TEMPORAL = ("before", "after", "inside")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_REGEX = re.compile(r"^\$\{/(.*)/\}$", re.DOTALL)


@dataclass(frozen=True)
class Span:
    """A span in the suite's canonical form."""

    trace_id: str
    span_id: str
    name: str
    start_time: datetime.datetime
    end_time: datetime.datetime
    kind: str = "INTERNAL"
    parent_span_id: str | None = None
    status: str = "UNSET"
    service_name: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()

    def fields(self) -> dict[str, Any]:
        """What ``select`` and ``expect`` see."""
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "kind": self.kind,
            "start_time": self.start_time.isoformat(),
            "end_time": self.end_time.isoformat(),
            "status": self.status,
            "service_name": self.service_name,
            "attributes": dict(self.attributes),
            "links": [{"trace_id": t, "span_id": s} for t, s in self.links],
        }

    @property
    def key(self) -> tuple[str, str]:
        return (self.trace_id, self.span_id)

    def label(self) -> str:
        return f"{self.name!r} ({self.span_id})"


def _time(nanoseconds: int | None) -> datetime.datetime:
    return datetime.datetime.fromtimestamp((nanoseconds or 0) / 1e9, datetime.UTC)


def canonical(span: ReadableSpan) -> Span:
    """A finished OpenTelemetry SDK span, canonical."""
    context = span.get_span_context()
    assert context is not None
    resource = dict(span.resource.attributes) if span.resource else {}
    service = resource.get("service.name")
    return Span(
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        parent_span_id=f"{span.parent.span_id:016x}" if span.parent else None,
        name=span.name,
        kind=span.kind.name,
        start_time=_time(span.start_time),
        end_time=_time(span.end_time),
        status=span.status.status_code.name,
        service_name=str(service) if service else None,
        attributes={**resource, **dict(span.attributes or {})},
        links=tuple(
            (f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in span.links
        ),
    )


def _arn_of(span: Span) -> str | None:
    value = span.attributes.get("durable.execution.arn")
    return str(value) if value is not None else None


def correlated(spans: Sequence[Span], execution_arns: Sequence[str]) -> list[Span]:
    """What a backend returns for an execution: the trace holding its Workflow span (or
    the first trace naming it) whole, plus the spans naming one of ``execution_arns`` in
    any other trace."""
    wanted = set(execution_arns)
    main = execution_arns[0]
    traces = [s.trace_id for s in spans if _arn_of(s) in wanted]
    if not traces:
        return []
    workflow = [s.trace_id for s in spans if s.name == "Workflow" and _arn_of(s) == main]
    primary = workflow[0] if workflow else next(s.trace_id for s in spans if _arn_of(s) == main)
    return [s for s in spans if s.trace_id == primary or _arn_of(s) in wanted]


# -- placeholders ------------------------------------------------------------------------


def bind(value: Any, bindings: Mapping[str, Any]) -> Any:
    """Fill ``${NAME}`` placeholders in strings (a whole-string one keeps the bound value's
    type); ``${/re/}`` patterns stay. Raises LookupError for an unbound name."""
    if isinstance(value, str):
        if _REGEX.match(value):
            return value
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return _bound(whole[1], bindings)
        return _PLACEHOLDER.sub(lambda m: str(_bound(m[1], bindings)), value)
    if isinstance(value, Mapping):
        return {key: bind(item, bindings) for key, item in value.items()}
    if isinstance(value, list):
        return [bind(item, bindings) for item in value]
    return value


def _bound(name: str, bindings: Mapping[str, Any]) -> Any:
    if name not in bindings:
        raise LookupError(f"the telemetry assertions use ${{{name}}}, which nothing binds")
    return bindings[name]


# -- values ------------------------------------------------------------------------------


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def value_errors(expected: Any, actual: Any, path: str) -> list[str]:
    """Why ``actual`` is not ``expected`` (empty: it is)."""
    if expected == "*":
        return []
    if isinstance(expected, str) and (regex := _REGEX.match(expected)):
        if re.search(regex[1], str(actual)):
            return []
        return [f"{path}: {actual!r} does not match /{regex[1]}/"]
    if isinstance(expected, Mapping) and set(expected) == {"$any_of"}:
        options = expected["$any_of"]
        if not _is_sequence(options) or not options:
            return [f"{path}.$any_of: needs a non-empty list"]
        if any(not value_errors(option, actual, path) for option in options):
            return []
        return [f"{path}: {actual!r} is none of {list(options)!r}"]
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{path}: expected a mapping, got {actual!r}"]
        errors: list[str] = []
        for key, item in expected.items():
            if key not in actual:
                errors.append(f"{path}.{key}: missing")
            else:
                errors += value_errors(item, actual[key], f"{path}.{key}")
        return errors
    if _is_sequence(expected):
        if not _is_sequence(actual):
            return [f"{path}: expected a list, got {actual!r}"]
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} item(s), got {len(actual)}"]
        errors = []
        for index, (item, got) in enumerate(zip(expected, actual, strict=True)):
            errors += value_errors(item, got, f"{path}[{index}]")
        return errors
    if isinstance(expected, bool) is not isinstance(actual, bool) or expected != actual:
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def matches(expected: Mapping[str, Any], span: Span) -> bool:
    return not value_errors(dict(expected), span.fields(), "span")


# -- the assertions ----------------------------------------------------------------------


class _Checker:
    def __init__(self, spans: Sequence[Span]) -> None:
        self.spans = list(spans)
        self.by_key: dict[tuple[str, str], list[Span]] = {}
        for span in self.spans:
            self.by_key.setdefault(span.key, []).append(span)

    def parent_errors(self, expected: Any, span: Span, path: str) -> list[str]:
        if not isinstance(expected, Mapping):
            return [f"{path}: must be a mapping"]
        outside = expected.get("$allow_outside", False)
        if outside is not False and outside is not True:
            return [f"{path}.$allow_outside: must be true"]
        wanted = {k: v for k, v in expected.items() if k != "$allow_outside"}
        if span.parent_span_id is None:
            return [f"{path}: {span.label()} has no parent"]
        parents = self.by_key.get((span.trace_id, span.parent_span_id), [])
        if not parents:
            return [f"{path}: the parent of {span.label()} is not in the trace"]
        fitting = [parent for parent in parents if matches(wanted, parent)]
        if not fitting:
            return value_errors(wanted, parents[0].fields(), path)
        if outside:
            return []
        for parent in fitting:
            if parent.start_time <= span.start_time and span.end_time <= parent.end_time:
                return []
        parent = fitting[0]
        return [
            f"{path}: {span.label()} [{span.start_time.isoformat()} .. "
            f"{span.end_time.isoformat()}] is not inside its parent {parent.label()} "
            f"[{parent.start_time.isoformat()} .. {parent.end_time.isoformat()}]"
        ]

    def link_errors(self, expected: Any, span: Span, path: str) -> list[str]:
        if isinstance(expected, Mapping) and set(expected) == {"$any_of"}:
            options = expected["$any_of"]
            if any(not self.link_errors(option, span, path) for option in options):
                return []
            return [f"{path}: the links match none of the alternatives"]
        if not _is_sequence(expected):
            return [f"{path}: must be a list"]
        if len(expected) != len(span.links):
            return [f"{path}: expected {len(expected)} link(s), got {len(span.links)}"]
        errors: list[str] = []
        for index, (item, link) in enumerate(zip(expected, span.links, strict=True)):
            errors += self._one_link(item, link, f"{path}[{index}]")
        return errors

    def _one_link(self, item: Any, link: tuple[str, str], path: str) -> list[str]:
        if not isinstance(item, Mapping):
            return [f"{path}: must be a mapping"]
        count = item.get("count", 1)
        occurrence = item.get("$occurrence")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            return [f"{path}.count: must be a positive whole number"]
        if occurrence is not None and (
            isinstance(occurrence, bool) or not isinstance(occurrence, int) or occurrence < 1
        ):
            return [f"{path}.$occurrence: must be a positive whole number"]
        wanted = {k: v for k, v in item.items() if k not in ("count", "$occurrence")}
        linked = self.by_key.get(link, [])
        if not linked:
            return [f"{path}: the linked span {link[1]} is not in the trace"]
        fitting = [candidate for candidate in linked if matches(wanted, candidate)]
        if len(fitting) != count:
            if len(linked) == 1 and count == 1:
                return value_errors(wanted, linked[0].fields(), path)
            return [f"{path}: {len(fitting)} span(s) with the linked id match, expected {count}"]
        if occurrence is None:
            return []
        alike = {span.key: span for span in self.spans if matches(wanted, span)}
        order = sorted(alike, key=lambda k: (alike[k].start_time, alike[k].end_time, k))
        actual = order.index(link) + 1
        if actual != occurrence:
            return [f"{path}.$occurrence: the linked span is occurrence {actual}, not {occurrence}"]
        return []

    def relation_errors(self, relation: str, expected: Any, span: Span, path: str) -> list[str]:
        if not isinstance(expected, Mapping):
            return [f"{path}: must be a mapping"]
        linked_only = expected.get("$linked", False)
        if linked_only is not False and linked_only is not True:
            return [f"{path}.$linked: must be true"]
        wanted = {k: v for k, v in expected.items() if k != "$linked"}
        links = set(span.links)
        found = [
            other
            for other in self.spans
            if other is not span and (not linked_only or other.key in links) and matches(wanted, other)
        ]
        if len(found) != 1:
            return [f"{path}: matched {len(found)} spans, it must match exactly one"]
        other = found[0]
        if relation == "before" and span.end_time > other.start_time:
            return [f"{path}: {span.label()} ends after {other.label()} starts"]
        if relation == "after" and span.start_time < other.end_time:
            return [f"{path}: {span.label()} starts before {other.label()} ends"]
        if relation == "inside" and (
            span.start_time < other.start_time or span.end_time > other.end_time
        ):
            return [f"{path}: {span.label()} is not inside {other.label()}"]
        return []


def _counts(raw: Any) -> tuple[int, ...] | None:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return (raw,)
    if isinstance(raw, Mapping) and set(raw) == {"$any_of"} and _is_sequence(raw["$any_of"]):
        options = tuple(raw["$any_of"])
        if options and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in options):
            return options
    return None


def _scopes(raw: Any) -> list[Mapping[str, Any]] | None:
    if isinstance(raw, Mapping):
        return [raw]
    if _is_sequence(raw) and all(isinstance(item, Mapping) for item in raw):
        return list(raw)
    return None


def span_assertion_errors(spans: Sequence[Span], assertions: Mapping[str, Any]) -> list[str]:
    raw = assertions.get("span_assertions")
    if raw is None:
        return []
    items = [raw] if isinstance(raw, Mapping) else list(raw) if _is_sequence(raw) else None
    if items is None:
        return ["span_assertions: must be a mapping or a list of them"]
    prefixes = assertions.get("exact_attribute_prefixes") or ()
    prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    checker = _Checker(spans)
    picked: set[int] = set()
    errors: list[str] = []
    for number, assertion in enumerate(items):
        path = f"span_assertions[{number}]"
        if not isinstance(assertion, Mapping) or set(assertion) - {"select", "expect", "count"}:
            errors.append(f"{path}: only select, expect and count are allowed")
            continue
        selector, expected = assertion.get("select", {}), assertion.get("expect")
        counts = _counts(assertion.get("count", 1))
        if not isinstance(selector, Mapping) or not isinstance(expected, Mapping) or counts is None:
            errors.append(f"{path}: select and expect must be mappings, count a positive number")
            continue
        chosen = [
            index
            for index, span in enumerate(checker.spans)
            if index not in picked and matches(selector, span)
        ]
        if len(chosen) not in counts:
            wanted = " or ".join(map(str, counts))
            names = ", ".join(checker.spans[index].label() for index in chosen) or "none"
            errors.append(f"{path}.select matched {len(chosen)} span(s) ({names}); expected {wanted}")
            continue
        picked.update(chosen)
        plain = {
            key: value
            for key, value in expected.items()
            if key not in ("parent", "links", *TEMPORAL)
        }
        for position, index in enumerate(chosen):
            span = checker.spans[index]
            where = f"{path}.expect" + (f"[{position}]" if len(chosen) > 1 else "")
            errors += value_errors(plain, span.fields(), where)
            if "parent" in expected:
                errors += checker.parent_errors(expected["parent"], span, f"{where}.parent")
            if "links" in expected:
                errors += checker.link_errors(expected["links"], span, f"{where}.links")
            for relation in TEMPORAL:
                if relation in expected:
                    errors += checker.relation_errors(
                        relation, expected[relation], span, f"{where}.{relation}"
                    )
            listed = expected.get("attributes")
            if prefixes and isinstance(listed, Mapping):
                for prefix in prefixes:
                    want = sorted(k for k in listed if str(k).startswith(prefix))
                    have = sorted(k for k in span.attributes if str(k).startswith(prefix))
                    if want != have:
                        errors.append(
                            f"{where}.attributes: the {prefix}* attributes are {have}, "
                            f"the assertion lists {want}"
                        )
    if assertions.get("require_all_spans"):
        scopes = _scopes(assertions.get("span_assertion_scope", {}))
        if scopes is None:
            return [*errors, "span_assertion_scope: must be a mapping or a list of them"]
        left = [
            span.label()
            for index, span in enumerate(checker.spans)
            if index not in picked and any(matches(scope, span) for scope in scopes)
        ]
        if left:
            errors.append("no span assertion covers " + ", ".join(left))
    return errors


def telemetry_errors(
    spans: Sequence[Span], assertions: Mapping[str, Any], execution_arn: str
) -> list[str]:
    """Every failed assertion (placeholders already bound; see the module docstring)."""
    errors: list[str] = []
    minimum = int(assertions.get("minimum_spans", 1))
    if len(spans) < minimum:
        errors.append(f"expected at least {minimum} span(s), got {len(spans)}")
    if assertions.get("require_unique_root_per_trace"):
        roots: dict[str, dict[str, Span]] = {}
        for span in spans:
            if span.parent_span_id is None:
                roots.setdefault(span.trace_id, {})[span.span_id] = span
        for trace_id, found in sorted(roots.items()):
            if len(found) > 1:
                names = ", ".join(span.label() for span in found.values())
                errors.append(f"trace {trace_id} has {len(found)} root spans: {names}")
    for span in spans:
        if span.start_time > span.end_time:
            errors.append(f"{span.label()} starts after it ends")
    if assertions.get("require_execution_correlation", True):
        seen = {
            str(span.attributes[key]).lower()
            for span in spans
            for key in EXECUTION_ATTRIBUTES
            if key in span.attributes
        }
        if execution_arn.lower() not in seen:
            errors.append("no span carries the execution's ARN")
        allowed = assertions.get("allowed_execution_arns", [execution_arn])
        allowed = [allowed] if isinstance(allowed, str) else list(allowed)
        strangers = seen - {str(arn).lower() for arn in allowed}
        if strangers:
            errors.append(f"spans carry other executions' ARNs: {sorted(strangers)}")
    minimum_invocations = int(assertions.get("minimum_invocations", 1))
    if minimum_invocations > 1:
        invocations = sum(
            1
            for span in spans
            if span.name.lower() == "invocation" and "durable.invocation.first" in span.attributes
        )
        if invocations < minimum_invocations:
            errors.append(
                f"expected at least {minimum_invocations} Invocation spans, got {invocations}"
            )
    return errors + span_assertion_errors(spans, assertions)
