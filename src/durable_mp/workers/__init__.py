"""Worker processes for step bodies: a semaphore-free pool and the worker-side link.

The parent uses :class:`WorkerPool` (or the shared :func:`default_pool`); code running in
a worker uses :func:`in_worker`, :func:`send_to_parent` and :func:`request_from_parent`.

Data flow of one job::

  caller's thread              pool thread ("durable-mp-pool")   worker process
  ---------------------------  --------------------------------  -------------------------
  submit(Job) -> Future
    WorkItem queued, under
    the pool's lock; an idle
    worker gets it at once   ----------------------------------> Start(job_id, call)
    (else the pool thread                                          fn, args = loads(call)
    dispatches it later)                                           fn(*args)
                                Job.on_message <---------------      Note  (send_to_parent)
                                Job.on_request <---------------      Request
                                Replier (any thread) ---------->     Reply (request_from_
                                                                       parent returns)
                                selector wakes  <---------------  Returned / Raised
                                outcome_of -> Outcome               (value or error, and
  Future.result() <------------ WorkItem.finish                      the run's start/end)
                                police: deadline, RSS, liveness
                                  -> kill the worker's tree
                                maintain: decide() -> start,
                                  retire, replace workers

Who does what:

- ``pool.py``: :class:`WorkerPool`, the API callers use, and the process-wide pool.
- ``pool_state.py``: what callers and the pool thread share under one lock (workers,
  queue, jobs), the dispatch of queued jobs to idle workers, and ``decide``: how many
  workers to start or retire (a blocked job lends its CPU slot, up to the cap).
- ``pool_thread.py``: the one thread that waits on every pipe and sentinel, turns
  messages into outcomes, runs the ``on_message``/``on_request`` callbacks, polices
  deadlines and memory, and starts, retires and reaps workers.
- ``jobs.py``: :class:`Job`, :class:`Outcome` and :class:`BodyRun`, the pool's record of
  a job (``WorkItem``) and the :class:`Replier`.
- ``processes.py``: CPU sizing, starting a worker (``WorkerHandle``), measuring and
  killing a worker's process tree.
- ``worker.py``: the worker's main loop and its link to the parent.
- ``protocol.py``: every message on the pipe, in a table; ``errors.py``: the errors the
  pool makes, worded for the reader.

A job's processes end with the job. Each worker is a child subreaper
(``PR_SET_CHILD_SUBREAPER``), so whatever a job starts -- a plain child, one in a new
session, an orphan of a double fork -- stays in the worker's process tree; the worker
kills and reaps that tree when the job ends, before reporting it, and when it stops; the
pool thread kills the worker's whole tree at a timeout or memory limit, and at shutdown
for busy workers. Subreapers rather than cgroups: they need no privileges, so they work on
Lambda too. A worker that crashes mid-job cannot clean up (see ``processes.py``).

Step bodies ride on this: ``engine/process_executor.py`` submits a step's attempt as a
job and answers its log records and its waits on durable futures, which travel as
``Note`` and ``Request`` bodies (see ``protocol.py``).

Names are imported on first use: every worker process imports this package while it
boots, and must not pay for the parent-side pool (the pool thread) it never uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from durable_mp.workers.errors import RemoteError
    from durable_mp.workers.jobs import BodyRun, Job, Outcome, Replier
    from durable_mp.workers.pool import WorkerPool, default_max_total_workers, default_pool
    from durable_mp.workers.sizing import usable_cpu_count
    from durable_mp.workers.worker import in_worker, request_from_parent, send_to_parent

_HOMES = {
    "BodyRun": "jobs",
    "Job": "jobs",
    "Outcome": "jobs",
    "RemoteError": "errors",
    "Replier": "jobs",
    "WorkerPool": "pool",
    "default_max_total_workers": "pool",
    "default_pool": "pool",
    "in_worker": "worker",
    "request_from_parent": "worker",
    "send_to_parent": "worker",
    "usable_cpu_count": "sizing",
}

__all__ = [
    "BodyRun",
    "Job",
    "Outcome",
    "RemoteError",
    "Replier",
    "WorkerPool",
    "default_max_total_workers",
    "default_pool",
    "in_worker",
    "request_from_parent",
    "send_to_parent",
    "usable_cpu_count",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
