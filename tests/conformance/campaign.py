"""A session's worth of runs: every (target, requirement) needed, submitted at once.

pytest's tests run one after another, but the runs they judge must overlap to fit the
time budget. A :class:`Campaign` is given every pair the selected tests will ask about
and submits them all to the harness at the start; each test then only waits for its own
outcome. The report script uses the same object for the whole table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import concurrent.futures
    from collections.abc import Iterable

    from tests.conformance.outcome import Outcome
    from tests.conformance.run import Harness

WAIT_SECONDS = 600.0


class Campaign:
    def __init__(self, harness: Harness, wanted: Iterable[tuple[str, str]]) -> None:
        self.harness = harness
        self._futures: dict[tuple[str, str], concurrent.futures.Future[Outcome]] = {}
        for target, requirement in sorted(set(wanted), key=_dex_first):
            self._futures[(target, requirement)] = harness.submit(target, requirement)

    def outcome(self, target: str, requirement: str) -> Outcome:
        key = (target, requirement)
        if key not in self._futures:  # not announced: run it now
            self._futures[key] = self.harness.submit(target, requirement)
        return self._futures[key].result(timeout=WAIT_SECONDS)

    def outcomes(self, target: str) -> dict[str, Outcome]:
        return {
            requirement: self.outcome(target, requirement)
            for (name, requirement) in list(self._futures)
            if name == target
        }


def _dex_first(pair: tuple[str, str]) -> tuple[bool, str]:
    """The dex targets wait on real timers: start them before the quick embedded runs."""
    return (pair[0] == "embedded", pair[1])
