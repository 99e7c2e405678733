"""``CallbackActions``: the harness plays the external system that completes callbacks.

It watches the history. Each new ``CallbackStarted`` takes the first unused action whose
``CallbackName`` is the callback's Name (or ``'*'``, or a ``${/re/}`` that matches it);
after the action's ``Delay`` the action is sent: ``success`` with its ``Payload`` as JSON,
``failure`` with its Payload as the error object, ``heartbeat`` with nothing (a heartbeat
leaves the callback open for a later action). Callbacks are handled one after another, so delays add up, as they do for
the requirements' reference validator. The same driver serves every target: only
reading the history and sending differ.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

POLL_SECONDS = 0.1


class CallbackDriver:
    """Performs ``actions`` on a thread until :meth:`stop`; ``errors`` lists what went wrong.

    ``history()`` returns the execution's events so far; ``send(callback_id, action)``
    sends one action (its Payload already bound). ``delay_scale`` shortens the delays
    where the service's clock is fast-forwarded anyway.
    """

    def __init__(
        self,
        actions: list[dict[str, Any]],
        history: Callable[[], list[dict[str, Any]]],
        send: Callable[[str, dict[str, Any]], None],
        delay_scale: float = 1.0,
    ) -> None:
        self._actions = actions
        self._history = history
        self._send = send
        self._scale = delay_scale
        self._stopped = threading.Event()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="conformance-callbacks", daemon=True)

    def __enter__(self) -> CallbackDriver:
        if self._actions:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        handled: set[str] = set()
        used: set[int] = set()
        while not self._stopped.is_set() and len(used) < len(self._actions):
            try:
                events = self._history()
            except Exception as error:  # the execution may be gone; say so once
                self.errors.append(f"callbacks: cannot read the history: {error}")
                return
            for event in events:
                if event.get("EventType") != "CallbackStarted":
                    continue
                callback_id = str((event.get("CallbackStartedDetails") or {}).get("CallbackId"))
                if callback_id in handled:
                    continue
                index = self._pick(event.get("Name"), used)
                if index is None:
                    handled.add(callback_id)
                    self.errors.append(f"callbacks: no action for callback {event.get('Name')!r}")
                    continue
                used.add(index)
                action = self._actions[index]
                if action.get("Operation") != "heartbeat":
                    handled.add(callback_id)
                if self._stopped.wait(float(action.get("Delay") or 0) * self._scale):
                    return
                try:
                    self._send(callback_id, action)
                except Exception as error:
                    self.errors.append(
                        f"callbacks: sending {action.get('Operation')} failed: {error}"
                    )
            self._stopped.wait(POLL_SECONDS)

    def _pick(self, name: Any, used: set[int]) -> int | None:
        for index, action in enumerate(self._actions):
            if index not in used and _names(action.get("CallbackName"), name):
                return index
        return None


def _names(pattern: Any, name: Any) -> bool:
    """A ``CallbackName``: the name itself, ``'*'``, or a ``${/re/}`` searched in it."""
    if pattern in ("*", name):
        return True
    regex = re.match(r"^\$\{/(.*)/\}$", pattern, re.DOTALL) if isinstance(pattern, str) else None
    return regex is not None and isinstance(name, str) and re.search(regex[1], name) is not None


def success_payload(action: dict[str, Any]) -> str | None:
    """The result a success action sends: its Payload as JSON (None without one)."""
    return json.dumps(action["Payload"]) if "Payload" in action else None


def failure_error(action: dict[str, Any]) -> dict[str, Any]:
    """The error object a failure action sends (ErrorType, ErrorMessage, ...)."""
    payload = action.get("Payload")
    if isinstance(payload, dict):
        return {key: value for key, value in payload.items() if value is not None}
    return {"ErrorMessage": str(payload)} if payload is not None else {}


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True
