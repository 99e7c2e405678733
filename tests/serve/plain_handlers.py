"""Lambda handlers served with ``--plain``: called as they are, never made durable."""

from __future__ import annotations

from typing import Any


def echo(event: Any, context: Any) -> dict[str, Any]:
    """An ordinary Lambda function, as a chained invoke would call it."""
    return {"echo": event, "function": context.function_name}


def already_durable(event: Any, context: Any) -> dict[str, Any]:
    """Stands in for a handler another SDK made durable: it answers the durable wire itself."""
    return {
        "Status": "SUCCEEDED",
        "Result": '"by the other SDK"',
        "arn": event["DurableExecutionArn"],
    }


def three_arguments(event: Any, context: Any, extra: Any) -> None:
    """Not a Lambda handler."""
