"""Progress of a ``durable-mp run``, drawn from the execution's history events.

On a terminal: one live status line (steps done / running / failed, what it waits for,
elapsed time), with notable events and log records printed above it. Elsewhere: one plain
line per notable event, nothing redrawn. A callback that starts waiting is always
announced with the exact command that completes it from another terminal.
"""

from __future__ import annotations

import datetime
import logging
import shlex
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Mapping

_EXAMPLE_RESULT = shlex.quote('"ok"')  # the result is JSON: a JSON string here
_INTERRUPTION = "Runner."  # Runner.Interrupted: Ctrl-C or SIGTERM, not a failure


class Progress:
    """Counts steps from history events and tells the user what is happening.

    ``store`` is the run's ``--store`` file (None for an in-memory run); the hint printed
    for a waiting callback names it.
    """

    def __init__(self, stream: TextIO, *, live: bool, store: str | None = None) -> None:
        self._stream = stream
        self._live = live
        self._store = store
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._running: set[str] = set()
        self._done = 0
        self._failed = 0
        self._retrying = 0
        self._waiting: dict[str, tuple[str, float | None]] = {}
        self._status_shown = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if live:
            self._ticker = threading.Thread(
                target=self._tick, name="durable-mp-progress", daemon=True
            )
            self._ticker.start()

    # -- events -------------------------------------------------------------------------

    def on_event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("EventType", "")
        op_id = str(event.get("Id", ""))
        label = _label(event)
        details: Mapping[str, Any] = event.get(f"{kind}Details") or {}
        line: str | None = None
        with self._lock:
            if kind == "StepStarted":
                self._running.add(op_id)
                line = f"step {label} started"
            elif kind == "StepSucceeded":
                self._running.discard(op_id)
                self._done += 1
                line = f"step {label} succeeded{_attempt(details)}"
            elif kind == "StepFailed":
                self._running.discard(op_id)
                delay = (details.get("RetryDetails") or {}).get("NextAttemptDelaySeconds")
                error = _error(details)
                if delay is not None:
                    self._retrying += 1
                    line = f"step {label} failed{_attempt(details)}: {error}; retrying in {delay} s"
                else:
                    self._failed += 1
                    line = f"step {label} failed{_attempt(details)}: {error}"
            elif kind == "WaitStarted":
                seconds = details.get("Duration")
                self._waiting[op_id] = (label, _deadline(details.get("ScheduledEndTimestamp")))
                line = f"wait {label}: {seconds} s"
            elif kind in ("WaitSucceeded", "WaitCancelled"):
                self._waiting.pop(op_id, None)
                line = (
                    f"wait {label} done" if kind == "WaitSucceeded" else f"wait {label} cancelled"
                )
            elif kind in ("ContextStarted", "ContextSucceeded", "ContextFailed"):
                verb = kind.removeprefix("Context").lower()
                line = f"context {label} {verb}"
                if kind == "ContextFailed":
                    line += f": {_error(details)}"
            elif kind.startswith(("Callback", "ChainedInvoke")):
                line = self._waited_on(kind, op_id, label, event, details)
            elif kind == "InvocationCompleted" and details.get("Error"):
                if _error(details).startswith(_INTERRUPTION):
                    line = f"invocation interrupted ({_error(details)})"
                else:
                    line = f"invocation failed: {_error(details)}; the service will invoke again"
            elif kind == "ExecutionStarted":
                line = f"execution {event.get('Name', '')} started"
        if line is not None and (not self._live or _notable(kind, line)):
            self.write_line(line)
        elif self._live:
            self._redraw()

    def _waited_on(
        self,
        kind: str,
        op_id: str,
        label: str,
        event: Mapping[str, Any],
        details: Mapping[str, Any],
    ) -> str:
        """A callback's or chained invoke's event (under the lock): its line."""
        noun = "callback" if kind.startswith("Callback") else "invoke"
        verb = kind.removeprefix("Callback").removeprefix("ChainedInvoke")
        if verb == "Started":
            deadline = _callback_deadline(event, details) if noun == "callback" else None
            self._waiting[op_id] = (f"{noun} {label}", deadline)
            if noun == "callback":
                return self.callback_hint(label, str(details.get("CallbackId", "")))
            return f"invoke {label} started: {details.get('FunctionName', '')}"
        self._waiting.pop(op_id, None)
        line = f"{noun} {label} {verb.lower().replace('timedout', 'timed out')}"
        return line if verb == "Succeeded" else f"{line}: {_error(details)}"

    def callback_hint(self, label: str, callback_id: str) -> str:
        """What to run, in another terminal, to complete a waiting callback."""
        if self._store is None:
            return (
                f"callback {label} is waiting (id {callback_id}), but this run is in memory: "
                "only a run with --store can be completed from another terminal"
            )
        return (
            f"callback {label} is waiting: durable-mp callback succeed {callback_id} "
            f"--result {_EXAMPLE_RESULT} --store {shlex.quote(self._store)}"
        )

    # -- output -------------------------------------------------------------------------

    def write_line(self, text: str) -> None:
        with self._lock:
            self._clear_status()
            self._stream.write(text.rstrip("\n") + "\n")
            self._draw_status()
            self._stream.flush()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(1)
        with self._lock:
            self._clear_status()
            self._stream.flush()

    def status_text(self) -> str:
        elapsed = time.monotonic() - self._started
        parts = [f"steps: {self._done} done, {len(self._running)} running, {self._failed} failed"]
        if self._retrying:
            parts.append(f"{self._retrying} retried")
        now = time.time()
        for label, deadline in self._waiting.values():
            left = f" ({max(0.0, deadline - now):.0f} s left)" if deadline else ""
            parts.append(f"waiting {label}{left}")
        parts.append(f"{elapsed:.1f} s")
        return " | ".join(parts)

    def _redraw(self) -> None:
        with self._lock:
            self._clear_status()
            self._draw_status()
            self._stream.flush()

    def _draw_status(self) -> None:
        if self._live and not self._stop.is_set():
            self._stream.write("\r\x1b[2K" + self.status_text())
            self._status_shown = True

    def _clear_status(self) -> None:
        if self._status_shown:
            self._stream.write("\r\x1b[2K")
            self._status_shown = False

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self._redraw()


class ProgressLogHandler(logging.Handler):
    """Writes log records through the progress display so they do not garble it."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self._progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._progress.write_line(self.format(record))
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


class OperationFormatter(logging.Formatter):
    """Adds the durable fields (operation name, attempt) that records carry."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        name = getattr(record, "operationName", None)
        attempt = getattr(record, "attempt", None)
        if name or attempt:
            tags = [f"op={name}"] if name else []
            if attempt:
                tags.append(f"attempt={attempt}")
            text = f"{text} [{' '.join(tags)}]"
        return text


_NOTABLE = frozenset(
    {
        "StepFailed",
        "ContextFailed",
        "InvocationCompleted",
        "ExecutionStarted",
        "CallbackStarted",
        "CallbackSucceeded",
        "CallbackFailed",
        "CallbackTimedOut",
        "ChainedInvokeFailed",
        "ChainedInvokeTimedOut",
        "ChainedInvokeStopped",
    }
)


def _notable(kind: str, line: str) -> bool:
    """In live mode only failures, retries, callbacks and context ends get their own line."""
    return kind in _NOTABLE


def _label(event: Mapping[str, Any]) -> str:
    name = event.get("Name")
    return f"'{name}'" if name else f"#{str(event.get('Id', ''))[:8]}"


def _attempt(details: Mapping[str, Any]) -> str:
    attempt = (details.get("RetryDetails") or {}).get("CurrentAttempt")
    return f" (attempt {attempt})" if attempt else ""


def _error(details: Mapping[str, Any]) -> str:
    payload = (details.get("Error") or {}).get("Payload") or {}
    kind = payload.get("ErrorType") or "Error"
    message = payload.get("ErrorMessage") or ""
    return f"{kind}: {message}" if message else kind


def _callback_deadline(event: Mapping[str, Any], details: Mapping[str, Any]) -> float | None:
    started = _deadline(event.get("EventTimestamp"))
    timeout = details.get("Timeout")
    return started + timeout if started is not None and isinstance(timeout, int) else None


def _deadline(value: Any) -> float | None:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None
