"""Session fixtures of the conformance suite: one harness, one campaign of runs.

The harness (and the dex stacks it starts on first use) lives for the whole session and
is closed at its end, which fails the session if serve or dex left a process behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conformance.campaign import Campaign
from tests.conformance.run import TARGETS, Harness, dex_requirement_ids

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def harness() -> Iterator[Harness]:
    with Harness() as shared:
        yield shared
    assert not shared.leftovers, f"processes left behind by the dex stacks: {shared.leftovers}"


@pytest.fixture(scope="session")
def campaign(request: pytest.FixtureRequest, harness: Harness) -> Campaign:
    """Every run the selected conformance tests need, submitted at once."""
    wanted: set[tuple[str, str]] = set()
    everything = dex_requirement_ids()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.module is None or not item.module.__name__.endswith("test_conformance"):
            continue
        if callspec is not None and "target" in callspec.params:
            target, requirement = callspec.params["target"], callspec.params["requirement"]
            wanted.add((target, requirement))
            if target == "dex":  # a dex failure is judged against the official SDK's run
                wanted.add(("official-on-dex", requirement))
        else:  # the differential and list checks look at every requirement
            wanted.update((target, r) for target in TARGETS[1:] for r in everything)
    return Campaign(harness, wanted)
