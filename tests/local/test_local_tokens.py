"""Checkpoint-token discipline: only the newest token of the running invocation works."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from local_helpers import Driver, execution_succeed, step_start, step_succeed

from durable_mp.exceptions import (
    CheckpointError,
    DurableApiErrorCategory,
    GetExecutionStateError,
)
from durable_mp.lambda_service import OperationUpdate
from durable_mp.local.tokens import CheckpointToken

if TYPE_CHECKING:
    from durable_mp.local import LocalService


def assert_stale(error: CheckpointError | GetExecutionStateError) -> None:
    assert error.error is not None
    assert error.error["Code"] == "InvalidParameterValueException"
    assert error.error["Message"].startswith("Invalid checkpoint token")
    assert error.response_metadata == {"HTTPStatusCode": 400}
    # The SDK fails the invocation (not the execution) so the service invokes again.
    assert error.error_category is DurableApiErrorCategory.INVOCATION
    assert error.is_retryable()


def test_each_checkpoint_replaces_the_token(service: LocalService) -> None:
    driver = Driver(service)
    first = driver.token
    second = driver.send(step_start("a")).checkpoint_token
    assert second and second != first
    with pytest.raises(CheckpointError) as caught:
        service.checkpoint(driver.arn, first, [], None)
    assert_stale(caught.value)
    assert "newer checkpoint token" in str(caught.value)
    driver.send(step_succeed("a"))  # the newest one still works


def test_a_token_of_an_earlier_invocation_is_stale(service: LocalService) -> None:
    driver = Driver(service)
    driver.send(step_start("a"), step_succeed("a"))
    old = driver.token
    driver.finish("PENDING")  # invalid PENDING: retried
    driver.begin()
    with pytest.raises(CheckpointError) as caught:
        service.checkpoint(driver.arn, old, [], None)
    assert_stale(caught.value)
    with pytest.raises(GetExecutionStateError) as state_caught:
        service.get_execution_state(driver.arn, old, "")
    assert_stale(state_caught.value)


@pytest.mark.parametrize("token", ["garbage", "", "eyJhIjoxfQ=="])
def test_a_token_this_service_never_issued(service: LocalService, token: str) -> None:
    driver = Driver(service)
    with pytest.raises(CheckpointError) as caught:
        service.checkpoint(driver.arn, token, [], None)
    assert_stale(caught.value)


def test_a_token_of_another_execution(service: LocalService) -> None:
    one, two = Driver(service), Driver(service)
    with pytest.raises(CheckpointError) as caught:
        service.checkpoint(one.arn, two.token, [], None)
    assert_stale(caught.value)


def test_no_token_is_valid_between_invocations(service: LocalService) -> None:
    driver = Driver(service)
    driver.send(step_start("a"))
    driver.finish("PENDING")
    with pytest.raises(CheckpointError) as caught:
        driver.send(step_succeed("a"))
    assert_stale(caught.value)


def test_the_execution_checkpoint_ends_the_token_chain(service: LocalService) -> None:
    driver = Driver(service)
    output = driver.send(execution_succeed('"large"'))
    assert output.checkpoint_token is None
    with pytest.raises(CheckpointError) as caught:
        service.checkpoint(driver.arn, driver.token, [], None)
    assert "has already ended" in str(caught.value)


def test_token_content_names_execution_sequence_and_invocation(service: LocalService) -> None:
    driver = Driver(service)
    token = CheckpointToken.decode(driver.token)
    assert token is not None
    assert token.execution_arn == driver.arn
    assert token.invocation_id == driver.invocation.request_id
    after = CheckpointToken.decode(driver.send().checkpoint_token or "")
    assert after is not None and after.sequence == token.sequence + 1


def test_unknown_execution_is_resource_not_found(service: LocalService) -> None:
    with pytest.raises(CheckpointError) as caught:
        service.checkpoint("arn:aws:lambda:local:0:function:f:$LATEST/durable-execution/n/x", "t", [], None)
    assert caught.value.error is not None
    assert caught.value.error["Code"] == "ResourceNotFoundException"
    assert "not found" in caught.value.error["Message"]
    assert caught.value.response_metadata == {"HTTPStatusCode": 404}


def test_same_client_token_and_token_returns_the_same_response(service: LocalService) -> None:
    driver = Driver(service)
    token = driver.token
    updates = [OperationUpdate.from_dict(step_start("a")), OperationUpdate.from_dict(step_succeed("a"))]
    first = service.checkpoint(driver.arn, token, updates, "client-1")
    again = service.checkpoint(driver.arn, token, updates, "client-1")
    assert again == first
    assert driver.event_types().count("StepSucceeded") == 1  # applied once
    # A different client token with the spent token is just stale.
    with pytest.raises(CheckpointError):
        service.checkpoint(driver.arn, token, updates, "client-2")


def test_without_client_token_a_retry_is_stale(service: LocalService) -> None:
    driver = Driver(service)
    token = driver.token
    service.checkpoint(driver.arn, token, [OperationUpdate.from_dict(step_start("a"))], None)
    with pytest.raises(CheckpointError):
        service.checkpoint(driver.arn, token, [OperationUpdate.from_dict(step_start("a"))], None)
