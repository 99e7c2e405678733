"""AWS's OpenTelemetry conformance requirements (otel-invocation, otel-execution,
otel-long-running in both views) on the embedded service, durable-mp's ``durable_mp.otel``
plugins exporting to the OpenTelemetry SDK's in-memory exporter. One test per case; all
cases run at once, first come those with callback actions (``otel_run.OtelCampaign``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conformance.otel_run import OtelCampaign, cases

if TYPE_CHECKING:
    from collections.abc import Iterator

CASES = [case.id for case in cases()]


@pytest.fixture(scope="module")
def otel_campaign(request: pytest.FixtureRequest) -> Iterator[OtelCampaign]:
    selected = {
        item.callspec.params["case"]
        for item in request.session.items
        if getattr(item, "module", None) is not None
        and item.module.__name__ == __name__
        and getattr(item, "callspec", None) is not None
        and "case" in item.callspec.params
    }
    campaign = OtelCampaign([case for case in cases() if case.id in selected])
    yield campaign
    campaign.close()


def test_every_otel_requirement_has_its_cases() -> None:
    assert len(CASES) == 17 + 17 + 2 * 4, CASES


@pytest.mark.parametrize("case", CASES)
def test_otel_requirement(otel_campaign: OtelCampaign, case: str) -> None:
    outcome = otel_campaign.outcome(case)
    if not outcome.passed:
        more = outcome.details.get("telemetry_errors", [])[1:5]
        pytest.fail(f"{case}: {outcome.first_error}" + "".join(f"\n  {e}" for e in more), pytrace=False)
