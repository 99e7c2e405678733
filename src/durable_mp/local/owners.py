"""One owner per execution: leases, and telling a live owner from one that is gone.

A runner that drives an execution holds its lease (a row of the ``leases`` table): who it
is (owner id, pid, host, boot id, pid namespace, process start time), since when, and
until when. It renews the lease every :data:`RENEW_SECONDS` while it lives; a lease not
renewed for ``lease_seconds`` expires. Another runner may take an execution over only
when its owner is provably gone:

- its process is dead on this machine: same host, same boot, same pid namespace, and
  the pid is gone, a zombie, or now another process (its start time differs), so a
  killed runner's execution is taken over at once;
- or its lease expired: the owner ran elsewhere, was stopped (SIGSTOP, a suspended
  laptop), or cannot renew; if it wakes up, its invocation's checkpoint token is stale
  and its next renewal tells it to stop.
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import psutil

from durable_mp.local import invocations
from durable_mp.local.errors import ExecutionOwnedError
from durable_mp.local.store import LeaseRow

if TYPE_CHECKING:
    from collections.abc import Iterable

    from durable_mp.local.journal import Journal
    from durable_mp.local.store import Tx

logger = logging.getLogger(__name__)

LEASE_SECONDS = 8.0  # a lease not renewed for this long has expired
RENEW_SECONDS = 1.0  # how often a live owner renews
_START_TOLERANCE = 0.05  # seconds: the same process reports the same start time


@dataclass(frozen=True)
class Owner:
    """A runner's identity, as its lease records it."""

    owner_id: str
    pid: int
    host: str
    boot_id: str
    pid_namespace: str
    process_start: float

    @classmethod
    def of_this_process(cls) -> Owner:
        """A new owner (a fresh owner id) living in this process."""
        pid = os.getpid()
        return cls(
            owner_id=uuid.uuid4().hex,
            pid=pid,
            host=_host(),
            boot_id=_boot_id(),
            pid_namespace=_pid_namespace(),
            process_start=_process_start(pid) or 0.0,
        )

    def lease(self, arn: str, now: float, seconds: float) -> LeaseRow:
        """A fresh lease of ``arn`` held by this owner from ``now``."""
        return LeaseRow(
            arn=arn,
            owner_id=self.owner_id,
            pid=self.pid,
            host=self.host,
            boot_id=self.boot_id,
            pid_namespace=self.pid_namespace,
            process_start=self.process_start,
            acquired_ts=now,
            renewed_ts=now,
            expires_ts=now + seconds,
        )


def renewed(lease: LeaseRow, now: float, seconds: float) -> LeaseRow:
    return replace(lease, renewed_ts=now, expires_ts=now + seconds)


def is_gone(lease: LeaseRow, now: float) -> bool:
    """Whether the lease's owner is provably gone (its execution may be taken over)."""
    if lease.expires_ts <= now:
        return True
    if (lease.host, lease.boot_id, lease.pid_namespace) != (
        _host(),
        _boot_id(),
        _pid_namespace(),
    ):
        return False  # another machine (or container): only the lease can tell
    started = _process_start(lease.pid)
    return started is None or abs(started - lease.process_start) > _START_TOLERANCE


def describe(lease: LeaseRow) -> str:
    """``pid 1234 on host-a since 2026-12-02 22:15:03 UTC``."""
    since = datetime.datetime.fromtimestamp(lease.acquired_ts, datetime.UTC)
    return f"pid {lease.pid} on {lease.host} since {since:%Y-%m-%d %H:%M:%S} UTC"


def _process_start(pid: int) -> float | None:
    """When the process ``pid`` started (None: no such process, or a zombie)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(process.create_time())
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:  # another user's live process
        return float("nan")


@functools.cache
def _host() -> str:
    return socket.gethostname()


@functools.cache
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as source:
            return source.read().strip()
    except OSError:
        return f"booted-{psutil.boot_time():.0f}"


@functools.cache
def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


# -- the lease table --------------------------------------------------------------------


def check(tx: Tx, arn: str, owner: Owner | None, name: str) -> None:
    """Raise :class:`ExecutionOwnedError` unless ``owner`` (None: anyone without a
    lease) may drive ``arn`` now."""
    lease = tx.lease(arn)
    mine = owner is not None and lease is not None and lease.owner_id == owner.owner_id
    if lease is not None and not mine and not is_gone(lease, time.time()):
        raise owned_error(name, lease)


def take(journal: Journal, owner: Owner, seconds: float) -> LeaseRow | None:
    """Take (or keep) the lease of the journal's execution; the live owner if another.

    Taking it over from a gone owner closes that owner's unfinished invocation, in the
    same transaction (``Runtime.ExitError``, not counted as a failed invocation).
    """
    tx, now = journal.tx, time.time()
    current = tx.lease(journal.arn)
    if current is not None and current.owner_id == owner.owner_id:
        tx.put_lease(renewed(current, now, seconds))
        return None
    if current is not None and not is_gone(current, now):
        return current
    tx.put_lease(owner.lease(journal.arn, now, seconds))
    recover(journal, None if current is None else describe(current))
    return None


def recover(journal: Journal, whose: str | None = None) -> bool:
    """Close the execution's unfinished invocation, whose runner (``whose``: its
    description, if known) is gone; whether there was one."""
    unfinished = journal.tx.open_invocation(journal.arn)
    if unfinished is None:
        return False
    logger.warning(
        "Invocation %s of %s never completed (its runner%s is gone); recording it as "
        "interrupted and invoking again.",
        unfinished.request_id,
        journal.row.name,
        f", {whose}," if whose else "",
    )
    invocations.interrupt(journal, unfinished, invocations.lost_error(whose))
    return True


def renew(tx: Tx, owner_id: str, seconds: float) -> set[str]:
    """Renew every lease ``owner_id`` still holds; their ARNs."""
    now = time.time()
    held = tx.leases(owner_id)
    for lease in held:
        tx.put_lease(renewed(lease, now, seconds))
    return {lease.arn for lease in held}


def release(tx: Tx, owner_id: str, arns: Iterable[str] | None = None) -> None:
    """Give up the leases ``owner_id`` holds (of ``arns`` only, if given)."""
    wanted = None if arns is None else set(arns)
    for lease in tx.leases(owner_id):
        if wanted is None or lease.arn in wanted:
            tx.delete_lease(lease.arn)


def live(tx: Tx) -> dict[str, LeaseRow]:
    """The leases whose owners are alive, by ARN."""
    now = time.time()
    return {lease.arn: lease for lease in tx.leases() if not is_gone(lease, now)}


def owned_error(name: str, lease: LeaseRow) -> ExecutionOwnedError:
    return ExecutionOwnedError(
        f"execution {name} is being run by {describe(lease)}; wait for it to finish, or stop it",
        lease,
    )
