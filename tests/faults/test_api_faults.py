"""The campaign's short version on the Lambda path: one execution of the workflow under
``durable-mp serve``, driven by dex-local-runner, meeting every kind of API fault once
(throttling, a 5xx, a connection reset before and after the call was applied, a stale
token, a call that outlasts the function's timeout). It completes with the right result,
and no acknowledged checkpoint is lost. Meanwhile a burst of requests hits serve. The long
version (random faults over many executions) is ``python -m benchmarks.faults``.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from tests.faults.api_faults import EVERY_FAULT, LambdaStack
from tests.faults.proxy import FAULTS, FaultPlan

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]


def test_every_kind_of_api_fault_in_one_execution(tmp_path: Path) -> None:
    """... while a burst of 200 concurrent requests hits serve (none is reset)."""
    bursts: list[Counter[str]] = []
    with LambdaStack(tmp_path) as stack:
        burst = threading.Timer(3.0, lambda: bursts.append(stack.burst(200)))
        burst.start()
        report = stack.run(1, FaultPlan(script=EVERY_FAULT))
        burst.join(120)
        leftovers = stack.leftovers()
    assert report.ok, report.summary()
    assert bursts == [Counter({"204": 200})], bursts
    assert not leftovers, leftovers
    assert set(report.faults) == set(FAULTS), report.summary()
    assert report.acknowledged > 20, report.summary()
