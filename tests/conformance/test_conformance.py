"""Conformance to AWS's requirements for durable execution SDKs, on two services.

One test per requirement and target: "embedded" (durable-mp's own service) and "dex"
(AWS's dex-local-runner driving durable-mp through ``durable-mp serve``). A failing
requirement fails its test with its first error. On dex, a requirement passes with the
emulator's documented omissions waived only when it is listed in ``limitations.py``, the
official SDK fails it identically on the same dex in the same session, and durable-mp
passes everything else once those omissions are looked past. The official
SDK's own runs are the differential check below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conformance.limitations import EMULATOR_LIMITATIONS, explain
from tests.conformance.run import dex_requirement_ids, requirement_ids
from tests.conformance.spec import REQUIREMENTS

if TYPE_CHECKING:
    from tests.conformance.campaign import Campaign

assert REQUIREMENTS.is_dir(), f"conformance requirements not found at {REQUIREMENTS}"
IDS = [requirement for requirement, _ in requirement_ids()]
DEX_IDS = dex_requirement_ids()


@pytest.mark.parametrize(
    ("target", "requirement"),
    [("embedded", requirement) for requirement in IDS]
    + [("dex", requirement) for requirement in DEX_IDS],
)
def test_requirement(campaign: Campaign, target: str, requirement: str) -> None:
    outcome = campaign.outcome(target, requirement)
    if outcome.passed:
        return
    if target == "dex" and requirement in EMULATOR_LIMITATIONS:
        official = campaign.outcome("official-on-dex", requirement)
        residual = outcome.details.get("residual")
        if official.first_error == outcome.first_error and residual is None:
            # pass (emulator omissions waived): explain(requirement) names them
            assert explain(requirement)
            return
        pytest.fail(
            f"{requirement} on dex: {outcome.first_error} (official SDK: "
            f"{official.first_error}); with the emulator's omissions waived: {residual}",
            pytrace=False,
        )
    pytest.fail(f"{requirement} on {target}: {outcome.first_error}", pytrace=False)


def test_every_requirement_the_official_sdk_passes_on_dex_passes_for_durable_mp(
    campaign: Campaign,
) -> None:
    """The differential check, strict and with the listed emulator omissions waived."""
    official = campaign.outcomes("official-on-dex")
    ours = campaign.outcomes("dex")
    behind = []
    for requirement, theirs in sorted(official.items()):
        mine = ours[requirement]
        if theirs.passed and not mine.passed:
            behind.append(f"{requirement}: {mine.first_error}")
        elif "residual" in theirs.details and theirs.details["residual"] is None:
            if mine.details.get("residual") is not None and not mine.passed:
                behind.append(f"{requirement} (omissions waived): {mine.details['residual']}")
    assert not behind, "the official SDK passes these on dex, durable-mp does not:\n" + "\n".join(
        behind
    )


def test_each_listed_emulator_limitation_is_failed_identically_by_the_official_sdk(
    campaign: Campaign,
) -> None:
    """The list stays honest: every entry is a failure of dex's, not of an SDK's."""
    official = campaign.outcomes("official-on-dex")
    ours = campaign.outcomes("dex")
    wrong = []
    for requirement in sorted(set(EMULATOR_LIMITATIONS) & set(DEX_IDS)):
        theirs, mine = official.get(requirement), ours.get(requirement)
        if theirs is None or mine is None:
            wrong.append(f"{requirement}: not run")
        elif theirs.passed:
            wrong.append(f"{requirement}: the official SDK passes it on dex; remove it")
        elif theirs.details.get("residual") is not None:
            wrong.append(
                f"{requirement}: the listed omissions do not explain the official SDK's failure: "
                f"{theirs.details['residual']}"
            )
        elif theirs.first_error != mine.first_error:
            wrong.append(f"{requirement}: official {theirs.first_error!r} != {mine.first_error!r}")
    assert not wrong, "\n".join(wrong)
