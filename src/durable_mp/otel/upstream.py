"""Where an execution's trace comes from, when something upstream already traces it.

A context extractor reads the invocation (``InvocationStartInfo``) and its environment
and returns an :class:`ExtractedContext`, or None. A complete one (trace id and parent
span id) is honoured as the parent of the Workflow span, and its trace is the
execution's; a trace id alone still names the trace. ``Sampled`` is kept as the
upstream's sampling decision.

* :func:`xray_context_extractor`: the X-Ray header Lambda puts in ``_X_AMZN_TRACE_ID``
  (``Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=1``).
* :func:`w3c_context_extractor`: a W3C ``traceparent``: the execution input's
  ``traceparent`` (top level, or under ``headers``, as API Gateway passes them), else the
  ``TRACEPARENT`` environment variable (how a CI job or a batch scheduler hands its
  trace to a process).
* :func:`default_context_extractor`: X-Ray, then W3C.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from durable_mp.plugin import InvocationStartInfo

XRAY_ENVIRONMENT_VARIABLE = "_X_AMZN_TRACE_ID"
TRACEPARENT_ENVIRONMENT_VARIABLE = "TRACEPARENT"

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class ExtractedContext:
    """Upstream trace context: ids are None when absent or invalid; ``sampled`` is None
    when the upstream made no decision."""

    trace_id: int | None
    parent_span_id: int | None
    sampled: bool | None = None

    @property
    def is_complete(self) -> bool:
        return self.trace_id is not None and self.parent_span_id is not None


ContextExtractor = Callable[[InvocationStartInfo], ExtractedContext | None]


def _in_range(value: int, bits: int) -> int | None:
    return value if 0 < value < 2**bits else None


def parse_xray_header(header: str) -> ExtractedContext | None:
    """``Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1``."""
    fields: dict[str, str] = {}
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    trace_id = None
    root = fields.get("Root", "").split("-")
    if len(root) == 3 and root[0] == "1" and len(root[1]) == 8 and len(root[2]) == 24:
        try:
            trace_id = _in_range(int(root[1] + root[2], 16), 128)
        except ValueError:
            trace_id = None
    parent = None
    if len(fields.get("Parent", "")) == 16:
        try:
            parent = _in_range(int(fields["Parent"], 16), 64)
        except ValueError:
            parent = None
    sampled = {"1": True, "0": False}.get(fields.get("Sampled", ""))
    if trace_id is None and parent is None and sampled is None:
        return None
    return ExtractedContext(trace_id, parent, sampled)


def parse_traceparent(value: str) -> ExtractedContext | None:
    """``00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`` (W3C Trace Context)."""
    found = _TRACEPARENT.match(value.strip().lower())
    if found is None:
        return None
    trace_id = _in_range(int(found[1], 16), 128)
    parent = _in_range(int(found[2], 16), 64)
    if trace_id is None or parent is None:
        return None
    return ExtractedContext(trace_id, parent, bool(int(found[3], 16) & 1))


def xray_context_extractor(info: InvocationStartInfo) -> ExtractedContext | None:
    header = os.environ.get(XRAY_ENVIRONMENT_VARIABLE)
    return parse_xray_header(header) if header else None


def w3c_context_extractor(info: InvocationStartInfo) -> ExtractedContext | None:
    carried = _traceparent_of(info.execution_input)
    if carried:
        return parse_traceparent(carried)
    value = os.environ.get(TRACEPARENT_ENVIRONMENT_VARIABLE)
    return parse_traceparent(value) if value else None


def default_context_extractor(info: InvocationStartInfo) -> ExtractedContext | None:
    return xray_context_extractor(info) or w3c_context_extractor(info)


def _traceparent_of(execution_input: Any) -> str | None:
    if not isinstance(execution_input, Mapping):
        return None
    for carrier in (execution_input, execution_input.get("headers")):
        if isinstance(carrier, Mapping):
            for key, value in carrier.items():
                if isinstance(key, str) and key.lower() == "traceparent" and isinstance(value, str):
                    return value
    return None
