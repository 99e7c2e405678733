"""The local service's time source.

Timestamps are always real (wall clock, UTC). Fast-forward never bends the clock: the
runner fires the earliest timer early instead of sleeping, so recorded timestamps stay
true while durations in the history keep their modeled values.
"""

from __future__ import annotations

import datetime
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the time as an aware UTC datetime."""

    def now(self) -> datetime.datetime: ...


class RealClock:
    """The wall clock."""

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(tz=datetime.UTC)


def from_epoch(seconds: float | None) -> datetime.datetime | None:
    """Stored epoch seconds back to an aware datetime."""
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


def to_epoch(value: datetime.datetime | None) -> float | None:
    return None if value is None else value.timestamp()
