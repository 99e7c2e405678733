"""The campaign's short version: SIGKILLs of ``durable-mp run``, then the identical command.

One seed with kills aimed at the places that matter (an at-most-once step in flight, the
map's items, a step whose processes are running, after that step) and alternating kinds
(the runner alone, its whole process group); one seed with kills at random instants. The
long version is ``python -m benchmarks.faults`` (50 seeds and more).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.faults.campaign import AIMED, SeedReport, run_seed

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]


def check(report: SeedReport) -> None:
    assert report.ok, report.summary()
    assert not report.survivors_after_kills, report.summary()  # not even between runs


def test_kills_aimed_at_every_kind_of_operation(tmp_path: Path) -> None:
    report = run_seed(1001, tmp_path, kills=AIMED)
    check(report)
    assert len(report.kills) >= 5, report.summary()  # (a kill after its target ended counts)
    assert {"group", "runner"} == {run.kill.kind for run in report.kills if run.kill}


def test_kills_at_random_instants(tmp_path: Path) -> None:
    report = run_seed(2, tmp_path)
    check(report)
    assert report.kills, report.summary()
