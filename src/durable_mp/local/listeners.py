"""History listeners, fed from the store in EventId order.

Listeners are handed events read back from the store, not the events the code that
appended them had in hand. So they also hear of events other processes appended to the
same file (a callback completed with ``durable-mp callback``, a stop), in the order the
history has them, each exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

HistoryListener = Callable[[str, dict[str, Any]], object]  # the return value is ignored
ReadEvents = Callable[[str, int], list[dict[str, Any]]]  # (arn, after EventId) -> events


class Listeners:
    """Who hears of history events, and how far each execution's events were delivered.

    ``read(arn, after)`` returns the execution's events after an EventId, presented;
    ``last_id(arn)`` the newest EventId. Delivery never runs inside a store transaction.
    """

    def __init__(self, read: ReadEvents, last_id: Callable[[str], int]) -> None:
        self._read = read
        self._last_id = last_id
        self._listeners: list[HistoryListener] = []
        self._delivered: dict[str, int] = {}
        self._lock = threading.RLock()  # a listener may cause events itself

    def add(self, listener: HistoryListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def appended(self, arn: str, first_event_id: int) -> None:
        """This process appended events from ``first_event_id`` on: deliver them (and any
        that other processes appended since the last delivery)."""
        with self._lock:
            if self._listeners:
                self._delivered.setdefault(arn, first_event_id - 1)
                self._deliver(arn)

    def catch_up(self, arn: str) -> None:
        """Deliver what other processes appended; the first call only marks the start."""
        with self._lock:
            if not self._listeners:
                return
            if arn not in self._delivered:
                self._delivered[arn] = self._last_id(arn)
                return
            self._deliver(arn)

    def _deliver(self, arn: str) -> None:
        listeners = list(self._listeners)
        for event in self._read(arn, self._delivered[arn]):
            event_id = int(event["EventId"])
            if event_id <= self._delivered[arn]:
                continue  # a listener's own change delivered it already
            self._delivered[arn] = event_id
            for listener in listeners:
                try:
                    listener(arn, event)
                except Exception:
                    logger.exception("A history listener failed; the event is still recorded")
