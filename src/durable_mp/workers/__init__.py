"""Worker processes for step bodies: a semaphore-free pool and the worker-side channel.

The parent uses :class:`WorkerPool` (or the shared :func:`default_pool`); code running in a
worker uses :func:`in_worker`, :func:`send_to_parent` and :func:`request_from_parent`.

Names are imported on first use: every worker process imports this package while it
boots, and must not pay for the parent-side pool (psutil, the pool thread) it never uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from durable_mp.workers.channel import in_worker, request_from_parent, send_to_parent
    from durable_mp.workers.default import default_pool
    from durable_mp.workers.errors import RemoteError
    from durable_mp.workers.jobs import BodyRun, Job, Outcome, Replier
    from durable_mp.workers.pool import WorkerPool, default_max_total_workers
    from durable_mp.workers.sizing import usable_cpu_count

_HOMES = {
    "BodyRun": "jobs",
    "Job": "jobs",
    "Outcome": "jobs",
    "RemoteError": "errors",
    "Replier": "jobs",
    "WorkerPool": "pool",
    "default_max_total_workers": "pool",
    "default_pool": "default",
    "in_worker": "channel",
    "request_from_parent": "channel",
    "send_to_parent": "channel",
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
