"""Branches that finish together are counted one at a time, the freed slot refilled between.

The race: with ``max_concurrency`` and ``min_successful``, two branches that
finish before the coordinator wakes were both counted before the freed slot was refilled,
so the batch could complete without starting an item the official SDK starts
(``map_completion`` reported 3 items instead of 4 about one run in eight). Here the
coordinator is made to wake late, every time, so the race is reproduced on each run.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from durable_mp import CompletionConfig, MapConfig, StepConfig, durable_execution
from durable_mp.engine.manager import ExecutionManager
from tests.support.fake_service import FakeService, drive

INLINE = StepConfig(executor="inline")


@pytest.fixture
def coordinator_wakes_late(monkeypatch):
    """The coordinator's wait returns only once a second outcome is waiting behind the first.

    This is the interleaving where the coordinator thread is descheduled while a second
    branch finishes: it wakes to find several branches done at once.
    """
    original = ExecutionManager.take
    woke_to_many = threading.Event()

    def late(self, mailbox, *, ready=None):
        message = original(self, mailbox, ready=ready)
        if message is None:
            return message
        deadline = time.monotonic() + 10
        while not mailbox.messages and time.monotonic() < deadline:
            time.sleep(0.001)
        if mailbox.messages:
            woke_to_many.set()
        return message

    monkeypatch.setattr(ExecutionManager, "take", late)
    return woke_to_many


def test_slot_is_refilled_before_the_next_completion_counts(coordinator_wakes_late):
    @durable_execution
    def handler(event, ctx):
        result = ctx.map(
            [1, 2, 3],
            lambda c, item, index, items: c.step(lambda _: item * 10, name=f"item-{index}", config=INLINE),
            name="batch",
            config=MapConfig(max_concurrency=2, completion_config=CompletionConfig(min_successful=2)),
        )
        return {"total": result.total_count, "reason": result.completion_reason.value}

    output = drive(handler, FakeService())

    assert coordinator_wakes_late.is_set(), "the coordinator never saw two branches done at once"
    assert output["Status"] == "SUCCEEDED"
    # Items 0 and 1 finish together; counting item 0 frees a slot that starts item 2
    # before item 1 is counted and meets min_successful, so all three items are started.
    # (Counting both first met min_successful with item 2 never started: total 2.)
    assert json.loads(output["Result"]) == {"total": 3, "reason": "MIN_SUCCESSFUL_REACHED"}
