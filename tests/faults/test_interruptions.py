"""Interruptions and contenders in the campaign: Ctrl-C seven times in a row, then the
identical command; two runs started together, a second one seconds later, one that waits
and takes over when the owner is killed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.faults.campaign import SEVEN_CTRL_C, Contender, Kill, SeedReport, run_seed

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]


def check(report: SeedReport) -> None:
    assert report.ok, report.summary()
    assert not report.survivors_after_kills, report.summary()


def test_seven_ctrl_c_in_a_row_then_the_same_command_finishes(tmp_path: Path) -> None:
    """More interruptions than the five failed invocations that fail an execution."""
    report = run_seed(11, tmp_path, kills=SEVEN_CTRL_C)
    check(report)
    assert len(report.kills) == 7, report.summary()


def test_contenders_together_later_and_waiting(tmp_path: Path) -> None:
    """Run 0 meets a contender started with it, run 1 one started a second later (both
    refused); run 2 one with --wait, and is killed as soon as that one waits: it takes
    over and finishes (most of the workflow is still ahead then)."""
    report = run_seed(
        12,
        tmp_path,
        kills=[Kill(0.1, "group", step="reserve"), Kill(0.1, "sigterm", step="flaky"),
               Kill(0.0, "runner")],
        contenders={0: Contender(0.0), 1: Contender(1.0), 2: Contender(0.0, wait=True)},
    )
    check(report)
    outcomes = [run.contender for run in report.runs if run.contender]
    assert outcomes == ["refused", "refused", "took-over"], report.summary()
