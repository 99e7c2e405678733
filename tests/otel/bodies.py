"""Step bodies for the OTel tests (importable by worker processes): each makes a span of
its own with the plain OpenTelemetry API, as user code would."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace


def square(item: int) -> Any:
    def body(step: Any) -> int:
        with trace.get_tracer("user.code").start_as_current_span(
            f"user-{item}", attributes={"item": item, "pid": os.getpid()}
        ) as span:
            span.add_event("computed", {"value": item * item})
            return item * item

    return body


def nested(step: Any) -> str:
    tracer = trace.get_tracer("user.code")
    with tracer.start_as_current_span("outer"), tracer.start_as_current_span("inner"):
        return "nested"
