"""Worker processes for step bodies: a semaphore-free pool and the worker-side link.

The parent uses :class:`WorkerPool` (or the shared :func:`default_pool`); code running in
a worker uses :func:`in_worker`, :func:`send_to_parent` and :func:`request_from_parent`.

Where workers come from::

  pool's process                        fork server ("zygote")           workers
  ------------------------------------  -------------------------------  ----------------
  pool thread: Zygote.launch() -------> fresh interpreter: imports the
    (or adopts the one started on the   worker loop, cloudpickle, the
    main thread while the handler       step runner; gc.freeze();
    module imported)                    never starts a thread
  request_worker(id) + a socket  -----> fork() ------------------------> sets sys.path and
    (SCM_RIGHTS)                                                          cwd of the request,
                           <----------- ("forked", id, pid)               dies with the fork
                           <----------- ("exited", pid, code)  <-- reaps  server, runs jobs

Data flow of one job run with :meth:`WorkerPool.run` (what a process step uses)::

  caller's thread                                       worker process
  ----------------------------------------------------  -------------------------------
  run(Job): under the pool's lock take an idle worker
    (or wait in the queue until one is handed over)
  send Start(job_id, call)  ----------------------------> fn, args = loads(call); fn(*args)
  recv: Note     -> Job.on_message (on this thread) <----   Note    (send_to_parent)
        Request  -> Job.on_request, Replier  <-----------   Request
        Replier (any thread)  --------------------------->   Reply  (request_from_parent
                                                                      returns)
        Returned / Raised -> Outcome  <------------------  Returned / Raised (value or
  give the worker back, hand it to the next queued job     error, start and end of the run)

  pool thread: polices the deadline and the memory limit (kills the worker's tree), hears
  the fork server's exit reports; either way it interrupts the caller's recv, which then
  learns how the job ended. ``submit(Job) -> Future`` is the same job read by the pool
  thread instead, whose callbacks then run there.

Who does what:

- ``pool.py``: :class:`WorkerPool`, the API callers use, and the process-wide pool.
- ``pool_state.py``: what callers and the pool thread share under one lock (workers,
  queue, jobs), the dispatch of queued jobs to idle workers, and ``decide``: how many
  workers to start or retire (a blocked job lends its CPU slot, up to the cap).
- ``direct.py``: a job run on its caller's thread (``run``): send, read, give back.
- ``pool_thread.py``: the one thread that starts the fork server and asks it for workers,
  hears of their deaths, reads for ``submit`` jobs, polices deadlines and memory, and
  starts, retires and reaps workers.
- ``conversation.py``: what a running job's worker says, handled the same by either reader.
- ``jobs.py``: :class:`Job`, :class:`Outcome` and :class:`BodyRun`, the pool's record of
  a job (``WorkItem``) and the :class:`Replier`.
- ``zygote.py``: the fork server's own code; ``launcher.py``: starting it and asking it
  for workers (the pool's side).
- ``processes.py``: the pool's handle on one worker; ``trees.py``: measuring and killing a
  worker with everything it started; ``sizing.py``: how many CPUs the pool may use.
- ``worker.py``: the worker's main loop and its link to the parent.
- ``protocol.py``: every message on a worker's socket, in a table; ``channel.py``: how
  frames cross it; ``pickling.py``: cloudpickle's bytes at the standard pickler's speed;
  ``errors.py``: the errors the pool makes, worded for the reader.

A job's processes end with the job. Each worker is a child subreaper
(``PR_SET_CHILD_SUBREAPER``), so whatever a job starts -- a plain child, one in a new
session, an orphan of a double fork -- stays in the worker's process tree; the worker
kills and reaps that tree when the job ends, before reporting it, and when it stops; the
pool thread kills the worker's whole tree at a timeout or memory limit, and at shutdown
for busy workers. The fork server is a subreaper too: it kills what a worker that crashed
mid-job left behind, and everything below it when it ends. Subreapers rather than cgroups:
they need no privileges, so they work on Lambda too.

Step bodies ride on this: ``engine/process_executor.py`` runs a step's attempt as a job
and answers its log records and its waits on durable futures, which travel as ``Note``
and ``Request`` bodies (see ``protocol.py``).

Names are imported on first use: the fork server imports this package, and must not pay
for the parent-side pool (the pool thread) its workers never use.
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
