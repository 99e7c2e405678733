"""Identity of the unit of work the current thread is doing.

An :class:`ActiveContext` is something that can make progress by itself: the root
handler, a running step. Identity travels in a ``ContextVar`` -- never a thread name,
because pools reuse threads and users name them as they like.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

_serial = itertools.count(1)


@dataclass(eq=False)
class ActiveContext:
    """One unit of work; compared by identity."""

    name: str
    serial: int = field(default_factory=lambda: next(_serial))

    def __repr__(self) -> str:
        return f"ActiveContext({self.name!r})"


_current: ContextVar[ActiveContext | None] = ContextVar("durable_mp_active_context", default=None)
_in_step_body: ContextVar[str | None] = ContextVar("durable_mp_in_step_body", default=None)


def current_context() -> ActiveContext | None:
    return _current.get()


@contextmanager
def acting_as(context: ActiveContext) -> Iterator[None]:
    """Run the block as ``context`` (for accounting and log correlation)."""
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)


def step_body_label() -> str | None:
    """The label of the step whose body is running on this thread, if any."""
    return _in_step_body.get()


@contextmanager
def inside_step_body(label: str) -> Iterator[None]:
    token = _in_step_body.set(label)
    try:
        yield
    finally:
        _in_step_body.reset(token)
