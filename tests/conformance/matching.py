"""The matching rules of the requirement YAMLs (see tests/conformance/requirements/README.md).

Expected events are found in the actual history by ``EventId``; inside an event only the
expected keys count (extra actual events and keys are ignored). ``'*'`` and ``{}`` accept
any value of a key that is present; ``${NAME}`` binds on first sight and must agree
after; ``${/re/}`` searches the value with a regex; anything else is compared literally
(after bound placeholders inside a longer string are filled in). The first mismatch is
returned as one line, so a failing requirement reads as a single sentence.
"""

from __future__ import annotations

import json
import re
from typing import Any

_BIND = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_REGEX = re.compile(r"^\$\{/(.*)/\}$", re.DOTALL)
_INNER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Mismatch(Exception):
    """The first difference: ``path`` into the actual value, and what differs."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def match_value(expected: Any, actual: Any, bindings: dict[str, Any], path: str = "") -> None:
    """Raise :class:`Mismatch` at the first place ``actual`` breaks ``expected``."""
    if expected == "*" or (isinstance(expected, dict) and not expected):
        return
    if isinstance(expected, str):
        _match_text(expected, actual, bindings, path)
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            raise Mismatch(path, f"expected an object, got {_show(actual)}")
        for key, value in expected.items():
            if key not in actual:
                raise Mismatch(f"{path}.{key}", f"missing (expected {_show(value)})")
            match_value(value, actual[key], bindings, f"{path}.{key}")
        return
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            raise Mismatch(path, f"expected {_show(expected)}, got {_show(actual)}")
        for index, (item, got) in enumerate(zip(expected, actual, strict=True)):
            match_value(item, got, bindings, f"{path}[{index}]")
        return
    if expected != actual:
        raise Mismatch(path, f"expected {_show(expected)}, got {_show(actual)}")


def _match_text(expected: str, actual: Any, bindings: dict[str, Any], path: str) -> None:
    if regex := _REGEX.match(expected):
        if not isinstance(actual, str) or not re.search(regex[1], actual):
            raise Mismatch(path, f"{_show(actual)} does not match /{regex[1]}/")
        return
    if bind := _BIND.match(expected):
        name = bind[1]
        if name not in bindings:
            bindings[name] = actual
        elif bindings[name] != actual:
            raise Mismatch(
                path, f"${{{name}}} was bound to {_show(bindings[name])}, got {_show(actual)}"
            )
        return
    wanted = _INNER.sub(lambda m: str(bindings.get(m[1], m[0])), expected)
    if wanted != actual:
        raise Mismatch(path, f"expected {_show(wanted)}, got {_show(actual)}")


def first_history_error(
    expected_events: list[dict[str, Any]],
    actual_events: list[dict[str, Any]],
    bindings: dict[str, Any] | None = None,
) -> str | None:
    """The first expected event the history breaks, as one line; None if all match.

    ``bindings`` receives the ``${NAME}`` values bound on the way (for ExpectedLogs).
    """
    by_id = {event.get("EventId"): event for event in actual_events}
    bindings = {} if bindings is None else bindings
    for expected in expected_events:
        event_id = expected.get("EventId")
        actual = by_id.get(event_id)
        if actual is None:
            return f"event {event_id} ({expected.get('EventType')}): missing (history ends at {len(actual_events)})"
        try:
            match_value(expected, actual, bindings)
        except Mismatch as mismatch:
            where = mismatch.path.lstrip(".")
            return f"event {event_id} ({expected.get('EventType')}): {where}: {mismatch.problem}"
    return None


def first_result_error(
    expected: dict[str, Any] | None, status: str | None, result: str | None
) -> str | None:
    """ExpectedResult: the status, then (when SUCCEEDED and given) the result after one json.loads."""
    if not expected:
        return None
    wanted = expected.get("ExecutionStatus")
    if wanted is not None and status != wanted:
        return f"status: expected {wanted}, got {status}"
    if status != "SUCCEEDED" or "Result" not in expected:
        return None
    try:
        decoded = None if result is None else json.loads(result)
    except ValueError:
        decoded = result
    try:
        match_value(expected["Result"], decoded, {}, "Result")
    except Mismatch as mismatch:
        return f"result: {mismatch}"
    return None


def summary(events: list[dict[str, Any]]) -> str:
    """``2:StepStarted 3:StepSucceeded ...``: enough to see where a history went wrong."""
    return " ".join(f"{event.get('EventId')}:{event.get('EventType')}" for event in events)


def _show(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
