"""A plugin's worker context, contained: whatever it does, the step body runs and its
outcome stands. (And :class:`WorkerContexts`, the set of them around one attempt.)

:class:`ContainedWorkerContext` wraps the factory a plugin returned from
``provide_worker_context``. It is pickled with the step's attempt and called where the
body runs (a worker process, a pool thread or the operation's own thread). Creating,
entering, exiting or reporting may raise: the failure is recorded, never propagated, and
travels back in the :class:`ContainedReport` so the parent logs it under the plugin's
name (workers have no log configuration of their own). ``__exit__`` never suppresses the
body's exception, whatever the plugin's context returns.

Workers import this module to unpickle the wrapper: it keeps to the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from durable_mp.plugin import WorkerContextFactory


@dataclass(frozen=True)
class ContainedReport:
    """What a plugin's worker context sent back, and how it failed where it ran."""

    payload: Any = None
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainedWorkerContext:
    """A plugin's worker-context factory, made harmless (see the module docstring)."""

    factory: WorkerContextFactory

    def __call__(self) -> _Contained:
        return _Contained(self.factory)


class _Contained:
    def __init__(self, factory: WorkerContextFactory) -> None:
        self._factory = factory
        self._context: Any = None
        self._failures: list[str] = []

    def __enter__(self) -> None:
        try:
            context = self._factory()
            context.__enter__()
        except Exception as error:
            self._failed("entering", error)
            return
        self._context = context

    def __exit__(self, *exc_info: object) -> None:
        context, self._context = self._context, None
        if context is None:
            return
        try:
            context.__exit__(*exc_info)  # its return value cannot swallow the body's error
        except Exception as error:
            self._failed("exiting", error)
        report = getattr(context, "worker_report", None)
        if callable(report):
            try:
                self._payload = report()
            except Exception as error:
                self._failed("reporting", error)

    def worker_report(self) -> ContainedReport | None:
        payload = getattr(self, "_payload", None)
        if payload is None and not self._failures:
            return None
        return ContainedReport(payload, tuple(self._failures))

    def _failed(self, doing: str, error: Exception) -> None:
        try:
            text = f"{type(error).__name__}: {error}"
        except Exception:
            text = type(error).__name__
        self._failures.append(f"the worker context raised while {doing}: {text}")


@dataclass(frozen=True)
class WorkerContexts:
    """The worker contexts plugins asked for around one attempt of a step body:
    ``factories`` to enter in order where the body runs, and the plugin that owns each
    (its reports go back to it)."""

    factories: tuple[WorkerContextFactory, ...] = ()
    owners: tuple[object, ...] = ()

    def owners_of(
        self, reports: Iterable[tuple[int, Any]], first: int
    ) -> list[tuple[object, Any]]:
        """``(wrapper index, report)`` pairs -> ``(owner, report)``; ``first`` is the
        index of this set's first factory among the job's body wrappers."""
        return [
            (self.owners[index - first], report)
            for index, report in reports
            if 0 <= index - first < len(self.owners)
        ]


NO_WORKER_CONTEXTS = WorkerContexts()
