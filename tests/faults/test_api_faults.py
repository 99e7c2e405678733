"""The campaign's short version on the Lambda path: one execution of the workflow under
``durable-mp serve``, driven by dex-local-runner, meeting every kind of API fault once
(throttling, a 5xx, a connection reset before and after the call was applied, a stale
token, a call that outlasts the function's timeout). It completes with the right result,
and no acknowledged checkpoint is lost. The long version (random faults over many
executions) is ``python -m benchmarks.faults``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.faults.api_faults import LambdaStack
from tests.faults.proxy import FAULTS, FaultPlan

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

# The fault of each checkpoint call in order (a retried call counts again); a clean run
# of the workflow makes about 30.
SCRIPT: list[str | None] = [
    None, "throttle", None, "server-error", None, "reset-before", None, "reset-after",
    None, None, "stale-token", None, None, None, "timeout",
]


def test_every_kind_of_api_fault_in_one_execution(tmp_path: Path) -> None:
    with LambdaStack(tmp_path) as stack:
        report = stack.run(1, FaultPlan(script=SCRIPT))
    assert report.ok, report.summary()
    assert set(report.faults) == set(FAULTS), report.summary()
    assert report.acknowledged > 20, report.summary()
