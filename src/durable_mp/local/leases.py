"""The leases one drive holds: taken before it invokes, renewed on a thread, given up.

A drive takes the lease of its root before anything else (or waits for the live owner to
finish, with ``wait``), and the lease of each child execution before invoking it; a
child another live runner holds is left to that runner. Every :data:`RENEW_SECONDS` a
thread renews them all; one found lost (this process slept past its lease and another
runner took the execution over) is reported to the drive, which must stop.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from durable_mp.local.errors import ExecutionOwnedError
from durable_mp.local.owners import RENEW_SECONDS, Owner, describe, owned_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from durable_mp.local.records import ExecutionRecord
    from durable_mp.local.service import LocalService
    from durable_mp.local.store import LeaseRow

logger = logging.getLogger(__name__)

WAIT_POLL_SECONDS = 0.2  # how often a waiting drive looks whether the owner is done


class DriveLeases:
    """What one drive holds; ``on_lost`` hears of a lease another runner took over."""

    def __init__(
        self,
        service: LocalService,
        lease_seconds: float,
        on_lost: Callable[[ExecutionOwnedError], None],
    ) -> None:
        self.owner = Owner.of_this_process()
        self._service = service
        self._seconds = lease_seconds
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._others: set[str] = set()  # executions another live runner drives
        self._stopped = threading.Event()
        self._renewal = threading.Thread(target=self._renew, name="durable-mp-lease", daemon=True)

    def take_root(self, arn: str, *, wait: bool) -> ExecutionRecord | None:
        """Take ``arn``'s lease, or wait (``wait``) for its live owner to finish or die.

        Returns None once held, the record if the execution ended meanwhile; raises
        :class:`ExecutionOwnedError` if another runner holds it and ``wait`` is False.
        """
        name = self._service.get_execution(arn).name
        while True:
            holder = self._service.owner_of(arn) or self._acquire(arn)
            if holder is None:
                record = self._service.get_execution(arn)
                if not record.is_terminal:
                    return None
                self.release()  # its owner finished it just now
                return record
            if not wait:
                raise owned_error(name, holder)
            self._service.catch_up_listeners(arn)  # the owner's progress, as it goes
            record = self._service.get_execution(arn)
            if record.is_terminal:
                return record
            time.sleep(WAIT_POLL_SECONDS)

    def hold(self, arn: str) -> bool:
        """Whether this drive holds ``arn``'s lease, taking it if no live runner does."""
        if self.holds(arn):
            return True
        holder = self._service.owner_of(arn) or self._acquire(arn)
        if holder is None:
            self._others.discard(arn)
            return True
        if arn not in self._others:
            self._others.add(arn)
            logger.info(
                "Execution %s is driven by %s; leaving it to that runner.", arn, describe(holder)
            )
        return False

    def holds(self, arn: str) -> bool:
        with self._lock:
            return arn in self._held

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def start_renewing(self) -> None:
        self._renewal.start()

    def stop_renewing(self) -> None:
        self._stopped.set()
        if self._renewal.is_alive():
            self._renewal.join(5)

    def renew_once(self) -> bool:
        """Renew every lease; False (and ``on_lost`` told) once one turned out lost."""
        expected = self.held()  # read first: each entered it after its lease was stored
        still = self._service.renew_leases(self.owner, lease_seconds=self._seconds)
        lost = sorted(expected - still)
        if lost:
            self._on_lost(
                ExecutionOwnedError(
                    f"this runner lost execution {lost[0]} to another runner (its lease "
                    "expired while this process did not renew it); stopping",
                    self._service.owner_of(lost[0]),
                )
            )
        return not lost

    def release(self) -> None:
        """Give every lease up (a failing store lets them expire instead)."""
        try:
            self._service.release_leases(self.owner)
        except Exception:  # the pid check frees them as soon as this process is gone
            logger.debug("could not release the leases of %s", self.owner.owner_id, exc_info=True)

    def _acquire(self, arn: str) -> LeaseRow | None:
        holder = self._service.acquire_lease(arn, self.owner, lease_seconds=self._seconds)
        if holder is None:
            with self._lock:
                self._held.add(arn)
        return holder

    def _renew(self) -> None:
        while not self._stopped.wait(min(RENEW_SECONDS, self._seconds / 4)):
            try:
                if not self.renew_once():
                    return
            except Exception as error:  # a busy or failing store: try again (it has slack)
                logger.warning("Could not renew the execution leases: %s", error)
