"""Paging: the invocation's first page, GetDurableExecutionState, checkpoint deltas."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import pytest
from local_helpers import Driver, step_start, step_succeed, wait_start
from local_official_sdk import official_handler

from durable_mp.exceptions import GetExecutionStateError
from durable_mp.local import LocalRunner, LocalService

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def small_pages(store_path: Path) -> Iterator[LocalService]:
    local = LocalService(store_path, page_size=2, invocation_retry_delay=0.01)
    yield local
    local.close()


def steps(*ids: str) -> list[dict[str, object]]:
    return [update for op_id in ids for update in (step_start(op_id), step_succeed(op_id))]


def read_all(service: LocalService, driver: Driver, marker: str | None) -> list[str]:
    ids: list[str] = []
    while marker:
        page = service.get_execution_state(driver.arn, driver.token, marker)
        assert len(page.operations) <= 2
        ids += [op.operation_id for op in page.operations]
        marker = page.next_marker
    return ids


def test_the_invocation_gets_a_first_page_and_a_marker(small_pages: LocalService) -> None:
    driver = Driver(small_pages)
    driver.send(*steps("s1", "s2", "s3", "s4", "s5"))
    driver.send(wait_start("w", 1))
    driver.finish("PENDING")
    small_pages.fire_due_timers(driver.arn, as_of=datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5))
    driver.begin()
    first = driver.invocation.event.initial_execution_state
    execution_id = driver.arn.split("/")[-1]
    assert [op.operation_id for op in first.operations] == [execution_id, "s1"]
    assert first.next_marker
    rest = read_all(small_pages, driver, first.next_marker)
    assert rest == ["s2", "s3", "s4", "s5", "w"]
    assert driver.invocation.event.updated_operation_ids == ["w"]


def test_a_full_listing_from_the_start(small_pages: LocalService) -> None:
    driver = Driver(small_pages)
    driver.send(*steps("a", "b", "c"))
    page = small_pages.get_execution_state(driver.arn, driver.token, "")
    assert len(page.operations) == 2 and page.next_marker
    assert [op.operation_id for op in page.operations][1:] + read_all(
        small_pages, driver, page.next_marker
    ) == ["a", "b", "c"]


def test_a_checkpoint_delta_is_paged_and_holds_only_the_changes(small_pages: LocalService) -> None:
    driver = Driver(small_pages)
    driver.send(*steps("old1", "old2"))
    output = driver.send(*steps("n1", "n2", "n3", "n4", "n5"))
    state = output.new_execution_state
    assert [op.operation_id for op in state.operations] == ["n1", "n2"]
    assert state.next_marker
    assert read_all(small_pages, driver, state.next_marker) == ["n3", "n4", "n5"]


def test_the_delta_carries_timers_that_fired_since_the_token(small_pages: LocalService) -> None:
    driver = Driver(small_pages)
    driver.send(wait_start("w", 1), *steps("a"))
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2)
    assert small_pages.fire_due_timers(driver.arn, as_of=later)
    output = driver.send()
    assert [(op.operation_id, op.status.value) for op in output.new_execution_state.operations] == [
        ("w", "SUCCEEDED")
    ]
    assert output.new_execution_state.next_marker is None


def test_max_items_bounds_a_page(service: LocalService) -> None:
    driver = Driver(service)
    driver.send(*steps("a", "b", "c", "d"))
    page = service.get_execution_state(driver.arn, driver.token, "", max_items=3)
    assert len(page.operations) == 3 and page.next_marker
    assert len(service.get_execution_state(driver.arn, driver.token, page.next_marker).operations) == 2


def test_an_unknown_marker_is_rejected(service: LocalService) -> None:
    driver = Driver(service)
    with pytest.raises(GetExecutionStateError) as caught:
        service.get_execution_state(driver.arn, driver.token, "not-a-marker")
    assert caught.value.error is not None
    assert caught.value.error["Code"] == "InvalidParameterValueException"


def test_the_official_sdk_pages_through_state(small_pages: LocalService) -> None:
    from aws_durable_execution_sdk_python import DurableContext, durable_execution
    from aws_durable_execution_sdk_python.config import Duration

    bodies: list[int] = []

    @durable_execution
    def handler(event: int, ctx: DurableContext) -> int:
        total = 0
        for index in range(event):
            total += ctx.step(lambda _, i=index: bodies.append(i) or i, name=f"s{index}")
        ctx.wait(Duration.from_seconds(5), name="pause")
        return total + ctx.step(lambda _: 100, name="after")

    runner = LocalRunner(small_pages, {"fn": official_handler(handler)}, fast_forward=True)
    record = runner.run("fn", 7)
    assert record.status == "SUCCEEDED", record.error
    assert record.result == str(sum(range(7)) + 100)
    assert bodies == list(range(7))  # the second invocation replayed them from pages
