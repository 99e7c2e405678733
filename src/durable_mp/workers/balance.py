"""How many workers to start or retire, and when queued jobs can never run.

A pure function of a census of the pool, so the policy can be read and tested alone.
``size`` CPU slots are shared by jobs that are not blocked; a job blocked on the parent
keeps its worker but lends its slot, so the pool may grow past ``size`` (never past
``cap``) while jobs are queued, and shrinks back once the blocked jobs resume.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Census:
    size: int  # CPU slots
    cap: int  # most worker processes at once
    busy: int  # workers running a job
    blocked: int  # of those, jobs marked blocked
    idle: int
    starting: int
    queued: int  # jobs waiting for a worker (after dispatching to idle workers)


@dataclass(frozen=True)
class Decision:
    start: int = 0  # workers to launch
    retire: int = 0  # idle workers to stop
    stuck: bool = False  # the queued jobs can never get a worker: fail them


def decide(census: Census) -> Decision:
    c = census
    unblocked = c.busy - c.blocked
    runnable = min(c.queued, max(0, c.size - unblocked))
    live = c.busy + c.idle + c.starting
    wanted = min(c.cap, max(c.size, c.busy + runnable))
    start = max(0, wanted - live)
    # Every worker waits on the parent and no more may start: the queued jobs would wait
    # for ever, and may well be what those workers are waiting for.
    stuck = runnable > 0 and not (c.idle or c.starting or start or unblocked)
    keep = min(c.cap, c.size + c.blocked)
    retire = 0 if runnable else min(c.idle, max(0, live - keep))
    return Decision(start=start, retire=retire, stuck=stuck)
