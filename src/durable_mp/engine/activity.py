"""Identity of the unit of work the current thread is doing.

An :class:`ActiveContext` is something that can make progress by itself: the root
handler, a running step. Identity travels in a ``ContextVar`` -- never a thread name,
because pools reuse threads and users name them as they like.

A context started inside a map or parallel branch belongs to that branch's
:class:`BranchActivity`, so the batch can tell how many of its branches are *busy* (have
an active context) rather than waiting on the service: it starts new branches only while
few are busy, which bounds the threads a large map needs without ever leaving a branch
unstarted while the others wait.
"""

from __future__ import annotations

import itertools
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

_serial = itertools.count(1)


class BatchActivity(Protocol):
    """What a batch learns from its branches' activity (under the manager's lock)."""

    busy: int  # branches with at least one active context

    def branch_went_quiet(self) -> object | None:
        """A branch stopped being busy: the mailbox of the coordinator to wake, if it
        should wake (it waits, and may start a branch now)."""
        ...


@dataclass(eq=False)
class BranchActivity:
    """The active contexts of one branch and of everything it started, counted."""

    batch: BatchActivity
    parent: BranchActivity | None  # the branch that started this branch's batch
    active: int = 0


@dataclass(eq=False)
class ActiveContext:
    """One unit of work; compared by identity."""

    name: str
    branch: BranchActivity | None = None  # the innermost map/parallel branch it is part of
    serial: int = field(default_factory=lambda: next(_serial))

    def __repr__(self) -> str:
        return f"ActiveContext({self.name!r})"

    def spawn(self, name: str) -> ActiveContext:
        """A context for work this one starts (a step): part of the same branch."""
        return ActiveContext(name, self.branch)


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
