"""Trace and span ids derived from what every invocation of an execution knows.

An execution's spans are made by many invocations (and processes) that share no memory,
so the ids that tie them together are computed, not remembered: the execution's trace
id from its ARN and start time, the Workflow span's id from the ARN, an operation's span
id from the ARN and the operation id. The formulas are those of the official OTel plugin
package (``aws-durable-execution-sdk-python-otel``), so executions traced by either join
the same way: blake2b of the text, the first 16 hex digits for a span id; for a trace id,
the start time's epoch seconds as 8 hex digits (X-Ray's trace id layout) then 24 hex
digits of the ARN's hash.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime


def _hex(text: str, digits: int) -> str:
    return hashlib.blake2b(text.encode()).hexdigest()[:digits]


def _nonzero(value: int) -> int:
    return value or 1  # an all-zero id is invalid in OpenTelemetry


def execution_trace_id(execution_arn: str, started: datetime.datetime) -> int:
    """The trace of an execution that no upstream trace context placed elsewhere."""
    seconds = int(started.timestamp()) & 0xFFFFFFFF
    return _nonzero(int(f"{seconds:08x}{_hex(execution_arn, 24)}", 16))


def workflow_span_id(execution_arn: str) -> int:
    """The Workflow span: one per execution, whichever invocation exports it."""
    return _nonzero(int(_hex(f"workflow:{execution_arn}", 16), 16))


def operation_span_id(execution_arn: str, operation_id: str) -> int:
    """An operation's span: its first span, in every invocation and both views."""
    return _nonzero(int(_hex(f"{execution_arn}:{operation_id}", 16), 16))


def random_span_id() -> int:
    return _nonzero(random.getrandbits(64))
