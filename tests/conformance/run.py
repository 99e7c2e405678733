"""Running requirements: ``run_requirement(requirement_yaml, target) -> Outcome``.

A :class:`Harness` owns what the targets share for a session: the log book on the root
logger, a working directory, and (started on first use) one dex stack per SDK. Its
:meth:`Harness.submit` runs requirements concurrently, on one thread pool per target:
most of a run is waiting for timers and the service, so threads are the lever that keeps
the whole suite within a CI budget on two cores.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import shutil
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tests.conformance import registry
from tests.conformance.embedded import EmbeddedTarget
from tests.conformance.limitations import waived
from tests.conformance.logs import LogBook
from tests.conformance.outcome import Outcome, judge, normalize
from tests.conformance.spec import load, requirement_paths

if TYPE_CHECKING:
    from tests.conformance.outcome import Observation
    from tests.conformance.sdk import Requirement
    from tests.conformance.spec import Spec
    from tests.conformance.stack import DexStack

TARGETS = ("embedded", "dex", "official-on-dex")
# On dex every function has sandboxes of its own, as on Lambda: a run that needs a new one
# pays a cold start (an interpreter, boto3, the handlers). dex invokes at most
# cpu_count + 4 handlers at once; with more runs in flight, cold starts fill those slots and
# a run's re-invocation queues behind them, past the few seconds its requirement allows
# (a callback's 1 s delay, a short wait). So at most four runs per dex target at once.
CONCURRENCY = {"embedded": 24, "dex": 4, "official-on-dex": 4}


class Target(Protocol):
    name: str
    sdk: str

    def observe(self, spec: Spec, requirement: Requirement) -> Observation: ...


def run_requirement(requirement_yaml: str | Path, target: Target) -> Outcome:
    """Run one requirement (its YAML path or id) on ``target``; never raises."""
    started = time.monotonic()
    spec = load(requirement_yaml)
    try:
        requirement = registry.built(target.sdk).find(spec.id, spec.suite)
    except LookupError as missing:
        return Outcome(False, f"no handler: {missing}", {"seconds": 0.0})
    try:
        seen = target.observe(spec, requirement)
    except LookupError as refused:
        return Outcome(False, f"not served: {refused}", {"seconds": 0.0})
    except Exception as error:
        where = traceback.extract_tb(error.__traceback__)[-1]
        text = (
            f"harness: {type(error).__name__}: {error} ({Path(where.filename).name}:{where.lineno})"
        )
        return Outcome(
            False, normalize(text, spec), {"seconds": round(time.monotonic() - started, 2)}
        )
    waive = waived(spec.id) if target.name != "embedded" else None
    return judge(spec, seen, time.monotonic() - started, waive)


class Harness:
    """What a session of conformance runs shares; use as a context manager."""

    def __init__(self, workdir: Path | None = None) -> None:
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="durable-conformance-"))
        self.book = LogBook()
        self._targets: dict[str, Target] = {}
        self._stacks: list[DexStack] = []
        self._pools: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
        self._lock = threading.Lock()
        self._root_level = logging.NOTSET
        self.leftovers: list[str] = []

    def __enter__(self) -> Harness:
        root = logging.getLogger()
        self._root_level = root.level
        root.setLevel(min(root.level or logging.WARNING, logging.INFO))
        root.addHandler(self.book)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def target(self, name: str) -> Target:
        """The target called ``name`` (one of :data:`TARGETS`), started on first use."""
        with self._lock:
            if name not in self._targets:
                self._targets[name] = self._make(name)
            return self._targets[name]

    def _make(self, name: str) -> Target:
        if name == "embedded":
            return EmbeddedTarget(self.book, self.workdir)
        from tests.conformance.dex import DexTarget
        from tests.conformance.stack import DexStack

        sdk_name = {"dex": "durable_mp", "official-on-dex": "official"}[name]
        specs = [load(path) for path in requirement_paths()]
        stack = DexStack(sdk_name, specs, self.workdir)
        self._stacks.append(stack)
        return DexTarget(name, stack.start())

    def submit(self, name: str, requirement: str | Path) -> concurrent.futures.Future[Outcome]:
        """Run ``requirement`` on target ``name`` in the background."""
        with self._lock:
            pool = self._pools.get(name)
            if pool is None:
                pool = concurrent.futures.ThreadPoolExecutor(
                    CONCURRENCY[name], thread_name_prefix=f"conformance-{name}"
                )
                self._pools[name] = pool
        return pool.submit(self._run, name, requirement)

    def _run(self, name: str, requirement: str | Path) -> Outcome:
        try:
            target = self.target(name)
        except Exception as error:  # the stack did not start: every requirement says so
            return Outcome(False, f"harness: target {name} did not start: {error}", {})
        return run_requirement(requirement, target)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        for stack in self._stacks:
            self.leftovers += stack.stop()
        root = logging.getLogger()
        root.removeHandler(self.book)
        root.setLevel(self._root_level)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def requirement_ids() -> list[tuple[str, Path]]:
    """(id, path) of every requirement, in suite and numeric order."""
    return [(path.stem, path) for path in requirement_paths()]


# The dex targets run every function in its own Lambda-faithful sandbox (awslambdaric,
# cgroups, a mount namespace): the whole set takes ~5 minutes on 2 cores. The test suite
# runs the first DEX_SAMPLE_PER_SUITE requirements of each suite there; the report
# (``python -m tests.conformance.report``) and ``DURABLE_MP_CONFORMANCE=full`` run all.
FULL_ENV = "DURABLE_MP_CONFORMANCE"
DEX_SAMPLE_PER_SUITE = 3


def dex_requirement_ids() -> list[str]:
    """The requirements the dex targets run in this session (see above)."""
    ids = [requirement for requirement, _ in requirement_ids()]
    if os.environ.get(FULL_ENV, "").strip().lower() == "full":
        return ids
    taken: dict[str, int] = {}
    sample = []
    for requirement in ids:
        suite = requirement.split("-")[0]
        if taken.get(suite, 0) < DEX_SAMPLE_PER_SUITE:
            taken[suite] = taken.get(suite, 0) + 1
            sample.append(requirement)
    return sample


def describe(outcome: Outcome) -> dict[str, Any]:
    return {"passed": outcome.passed, "first_error": outcome.first_error, **outcome.details}
