"""Identity of the unit of work the current thread is doing.

An :class:`ActiveContext` is something that can make progress by itself: the root
handler, a running step. Identity travels in a ``ContextVar`` -- never a thread name,
because pools reuse threads and users name them as they like.
"""

from __future__ import annotations

import itertools
from contextvars import ContextVar
from dataclasses import dataclass, field

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


class acting_as:
    """Run the block as ``context`` (for accounting and log correlation)."""

    __slots__ = ("_context", "_token")

    def __init__(self, context: ActiveContext) -> None:
        self._context = context

    def __enter__(self) -> None:
        self._token = _current.set(self._context)

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._token)


def step_body_label() -> str | None:
    """The label of the step whose body is running on this thread, if any."""
    return _in_step_body.get()


class inside_step_body:
    __slots__ = ("_label", "_token")

    def __init__(self, label: str) -> None:
        self._label = label

    def __enter__(self) -> None:
        self._token = _in_step_body.set(self._label)

    def __exit__(self, *exc_info: object) -> None:
        _in_step_body.reset(self._token)
