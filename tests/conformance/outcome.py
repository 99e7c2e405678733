"""What a run observed, and the verdict: ``Outcome(passed, first_error, details)``.

Every target reduces a run to an :class:`Observation` (final status, result, history,
log records); :func:`judge` applies the requirement to it in a fixed order (status,
history, result, logs), so the same mistake gives the same first error on every target.
First errors are normalized (bound variables back to ``${NAME}``, ARNs and request ids
elided), so the differential check can compare two SDKs' errors, and the report is
stable from run to run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.conformance.logs import first_logs_error
from tests.conformance.matching import first_history_error, first_result_error, summary

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conformance.spec import Spec

    Waiver = Callable[[list[dict[str, Any]], list[dict[str, Any]]], tuple[list[Any], list[Any]]]

_ARN = re.compile(r"arn:aws[a-z-]*:lambda:[^\s'\"),]+")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


@dataclass
class Observation:
    """The end of one execution as a target saw it."""

    arn: str | None = None
    status: str | None = None
    result: str | None = None
    error: Any = None
    history: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # harness-side: timeouts, callbacks
    matched_early: bool = False  # an AsyncInvoke run stopped once its events matched


@dataclass(frozen=True)
class Outcome:
    passed: bool
    first_error: str | None
    details: dict[str, Any] = field(default_factory=dict)
    # What it was judged on, to judge again (e.g. with other waivers): (Spec, Observation).
    evidence: tuple[Spec, Observation] | None = field(default=None, repr=False, compare=False)


def judge(spec: Spec, seen: Observation, seconds: float, waive: Waiver | None = None) -> Outcome:
    """Apply ``spec`` to what was seen; the first failure, normalized, is the error.

    With ``waive`` (an emulator's known omissions, :mod:`tests.conformance.limitations`)
    the requirement is judged a second time with them looked past: ``details["residual"]``
    is that run's first error (None: nothing else is wrong).
    """
    error = _first_error(spec, seen, spec.expected_history, seen.history)
    details: dict[str, Any] = {
        "arn": seen.arn,
        "status": seen.status,
        "error": seen.error,
        "history": summary(seen.history),
        "logs": len(seen.logs),
        "seconds": round(seconds, 2),
    }
    if waive is not None:
        expected, actual = waive(spec.expected_history, seen.history)
        residual = _first_error(spec, seen, expected, actual)
        details["residual"] = None if residual is None else normalize(residual, spec)
    first = None if error is None else normalize(error, spec)
    return Outcome(error is None, first, details, (spec, seen))


def _first_error(
    spec: Spec, seen: Observation, expected: list[dict[str, Any]], actual: list[dict[str, Any]]
) -> str | None:
    bindings: dict[str, Any] = {}
    checks = (
        lambda: seen.problems[0] if seen.problems else None,
        lambda: None if seen.matched_early else _status_error(spec, seen),
        lambda: first_history_error(expected, actual, bindings),
        lambda: None if seen.matched_early else _result_error(spec, seen),
        lambda: (
            first_logs_error(spec.expected_logs, seen.logs, bindings) if spec.expected_logs else None
        ),
    )
    return next((found for check in checks if (found := check()) is not None), None)


def _status_error(spec: Spec, seen: Observation) -> str | None:
    expected = spec.expected_result or {}
    if "ExecutionStatus" not in expected:
        return None
    return first_result_error({"ExecutionStatus": expected["ExecutionStatus"]}, seen.status, None)


def _result_error(spec: Spec, seen: Observation) -> str | None:
    return first_result_error(spec.expected_result, seen.status, seen.result)


def normalize(text: str, spec: Spec) -> str:
    """Make an error comparable across runs: variables, ARNs and request ids elided."""
    for name, value in sorted(spec.variables.items(), key=lambda item: -len(item[1])):
        if value:
            text = text.replace(value, f"${{{name}}}")
    text = _ARN.sub("<arn>", text)
    return _UUID.sub("<uuid>", text)
