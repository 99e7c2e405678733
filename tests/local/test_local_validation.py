"""Every checkpoint the real service rejects is rejected the same way (400, EXECUTION)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from local_helpers import (
    Driver,
    context_fail,
    context_start,
    context_succeed,
    execution_fail,
    execution_succeed,
    step_fail,
    step_retry,
    step_start,
    step_succeed,
    wait_start,
)

from durable_mp.exceptions import CheckpointError, DurableApiErrorCategory
from durable_mp.lambda_service import MAX_OPERATION_PAYLOAD_BYTES, OperationStatus

if TYPE_CHECKING:
    from durable_mp.local import LocalService

Case = tuple[list[dict[str, Any]], list[dict[str, Any]], str]

CASES: dict[str, Case] = {
    # valid action per type
    "wait-succeed-is-no-wait-action": ([], [{"Id": "w", "Type": "WAIT", "Action": "SUCCEED"}], "Invalid action SUCCEED"),
    "context-retry-is-no-context-action": ([], [{"Id": "c", "Type": "CONTEXT", "Action": "RETRY", "StepOptions": {"NextAttemptDelaySeconds": 1}}], "Invalid action RETRY"),
    "execution-start-is-no-execution-action": ([], [{"Id": "e", "Type": "EXECUTION", "Action": "START"}], "Invalid action START"),
    "callback-succeed-is-no-callback-action": ([], [{"Id": "cb", "Type": "CALLBACK", "Action": "SUCCEED"}], "Invalid action SUCCEED"),
    # step state transitions
    "step-start-while-started": ([step_start("s")], [step_start("s")], "Invalid current STEP state to START"),
    "step-start-when-succeeded": ([step_start("s"), step_succeed("s")], [step_start("s")], "is SUCCEEDED"),
    "step-succeed-when-new": ([], [step_succeed("s")], "does not exist"),
    "step-fail-when-pending": ([step_start("s"), step_retry("s", 60)], [step_fail("s")], "is PENDING"),
    "step-succeed-twice": ([step_start("s"), step_succeed("s")], [step_succeed("s")], "is SUCCEEDED"),
    "step-retry-when-new": ([], [step_retry("s")], "does not exist"),
    "step-retry-when-failed": ([step_start("s"), step_fail("s")], [step_retry("s")], "is FAILED"),
    "step-retry-needs-step-options": ([step_start("s")], [{"Id": "s", "Type": "STEP", "Action": "RETRY"}], "StepOptions are required"),
    "step-retry-not-both-error-and-payload": ([step_start("s")], [step_retry("s", Payload='"x"')], "both error and payload"),
    "step-fail-with-payload": ([step_start("s")], [step_fail("s", Payload='"x"')], "Payload for FAIL"),
    "step-succeed-with-error": ([step_start("s")], [step_succeed("s", Error={"ErrorMessage": "x"})], "Error for SUCCEED"),
    # waits
    "wait-start-twice": ([wait_start("w", 60)], [wait_start("w", 60)], "Invalid current WAIT state to START"),
    "wait-start-needs-wait-options": ([], [{"Id": "w", "Type": "WAIT", "Action": "START"}], "WaitSeconds"),
    "wait-start-zero-seconds": ([], [wait_start("w", 0)], "WaitSeconds"),
    "wait-cancel-when-new": ([], [{"Id": "w", "Type": "WAIT", "Action": "CANCEL"}], "does not exist"),
    # contexts
    "context-start-twice": ([context_start("c")], [context_start("c")], "Invalid current CONTEXT state to START"),
    "context-succeed-when-new": ([], [context_succeed("c")], "does not exist"),
    "context-close-when-closed": ([context_start("c"), context_succeed("c")], [context_fail("c")], "is SUCCEEDED"),
    "context-fail-with-payload": ([context_start("c")], [context_fail("c", Payload='"x"')], "Payload for FAIL"),
    "context-succeed-with-error": ([context_start("c")], [context_succeed("c", Error={"ErrorMessage": "x"})], "Error for SUCCEED"),
    # the execution's own updates
    "two-execution-updates": ([], [execution_succeed(), execution_fail()], "multiple EXECUTION"),
    "execution-update-not-last": ([], [execution_succeed(), step_start("s")], "must be the last"),
    "execution-succeed-with-error": ([], [{**execution_succeed(), "Error": {"ErrorMessage": "x"}}], "Error for SUCCEED"),
    "execution-fail-with-payload": ([], [{**execution_fail(), "Payload": '"x"'}], "Payload for FAIL"),
    # duplicate ids in one batch
    "duplicate-wait-start": ([], [wait_start("w"), wait_start("w")], "same ID"),
    "step-start-succeed-succeed": ([], [step_start("s"), step_succeed("s"), step_succeed("s")], "same ID"),
    "step-succeed-then-start": ([step_start("s")], [step_succeed("s"), step_start("s")], "same ID"),
    # parents
    "unknown-parent": ([], [step_start("s", parent="nope")], "Invalid parent operation id"),
    "parent-is-a-step": ([step_start("p")], [step_start("s", parent="p")], "must be a CONTEXT"),
    "parent-started-later-in-batch": ([], [step_start("s", parent="c"), context_start("c")], "Invalid parent"),
    # metadata must match the stored operation
    "inconsistent-type": ([step_start("x")], [context_succeed("x")], "Inconsistent operation type"),
    "inconsistent-subtype": ([step_start("s")], [step_succeed("s", SubType="Other")], "Inconsistent operation subtype"),
    "inconsistent-name": ([step_start("s", name="a")], [step_succeed("s", Name="b")], "Inconsistent operation name"),
    "inconsistent-parent": ([context_start("c1"), context_start("c2"), step_start("s", parent="c1")], [step_succeed("s", ParentId="c2")], "Inconsistent parent"),
    # limits and formats
    "payload-over-6-mib": ([step_start("s")], [step_succeed("s", payload="x" * (MAX_OPERATION_PAYLOAD_BYTES + 1))], "larger than"),
    "error-over-32-kib": ([step_start("s")], [step_fail("s", message="x" * 33_000)], "Error object size"),
    "id-bad-characters": ([], [step_start("a/b")], "Invalid operation Id"),
    "id-too-long": ([], [step_start("x" * 65)], "Invalid operation Id"),
    "name-not-printable-ascii": ([], [step_start("s", name="tab\there")], "Invalid operation Name"),
    "name-too-long": ([], [step_start("s", name="n" * 257)], "Invalid operation Name"),
    "subtype-bad-characters": ([], [{**step_start("s"), "SubType": "a b"}], "Invalid SubType"),
    "subtype-too-long": ([], [{**step_start("s"), "SubType": "S" * 33}], "Invalid SubType"),
}


def assert_rejected(error: CheckpointError, match: str) -> None:
    assert error.error is not None
    assert error.error["Code"] == "InvalidParameterValueException"
    assert re.search(match, error.error["Message"]), error.error["Message"]
    assert error.response_metadata == {"HTTPStatusCode": 400}
    assert error.error_category is DurableApiErrorCategory.EXECUTION
    assert not error.is_retryable()
    assert "InvalidParameterValueException" in str(error)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_rejected(service: LocalService, case: Case) -> None:
    setup, bad, match = case
    driver = Driver(service)
    if setup:
        driver.send(*setup)
    events_before = driver.event_types()
    with pytest.raises(CheckpointError) as caught:
        driver.send(*bad)
    assert_rejected(caught.value, match)
    assert driver.event_types() == events_before  # nothing of the batch was applied
    driver.send()  # the token was not consumed by the rejected call


def test_a_rejected_batch_applies_nothing(service: LocalService) -> None:
    driver = Driver(service)
    with pytest.raises(CheckpointError):
        driver.send(step_start("a"), step_succeed("a"), wait_start("w"), step_succeed("nope"))
    assert [op.operation_id for op in service.get_operations(driver.arn)] == [
        driver.record.arn.split("/")[-1]
    ]
    assert driver.event_types() == ["ExecutionStarted"]


@pytest.mark.parametrize(
    "batch",
    [
        [step_start("s"), step_succeed("s")],
        [step_start("s"), step_fail("s")],
        [step_start("s"), step_retry("s")],
        [context_start("c"), context_succeed("c")],
        [context_start("c"), step_start("s", parent="c"), step_succeed("s"), context_succeed("c")],
        [step_start("s"), execution_succeed()],
    ],
    ids=["start+succeed", "start+fail", "start+retry", "context", "nested", "with-execution"],
)
def test_accepted_batches(service: LocalService, batch: list[dict[str, Any]]) -> None:
    driver = Driver(service)
    driver.send(*batch)


def test_checkpoint_on_a_finished_execution_is_rejected(service: LocalService) -> None:
    driver = Driver(service)
    driver.finish("SUCCEEDED", Result='"r"')
    with pytest.raises(CheckpointError) as caught:
        driver.send(step_start("s"))
    assert caught.value.error is not None
    assert caught.value.error["Code"] == "InvalidParameterValueException"
    assert "has already ended" in caught.value.error["Message"]


def test_callbacks_start_once_with_bounded_timeouts(service: LocalService) -> None:
    driver = Driver(service)
    start = {"Id": "cb", "Type": "CALLBACK", "Action": "START", "SubType": "Callback"}
    with pytest.raises(CheckpointError) as caught:
        driver.send({**start, "CallbackOptions": {"TimeoutSeconds": -1}})
    assert_rejected(caught.value, "CallbackOptions.TimeoutSeconds must be between 0 and")
    driver.send(start)
    for action in ("START", "SUCCEED"):
        with pytest.raises(CheckpointError) as caught:
            driver.send({**start, "Action": action})
        assert caught.value.error is not None
        assert caught.value.error["Code"] == "InvalidParameterValueException"


def test_chained_invoke_targets_are_checked_before_anything_applies(service: LocalService) -> None:
    driver = Driver(service)
    invoke = {"Id": "i", "Type": "CHAINED_INVOKE", "Action": "START", "SubType": "ChainedInvoke"}
    for options, payload, message in [
        ({"FunctionName": "no spaces"}, None, "Invalid function ARN 'no spaces'"),
        ({"FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:f"}, None, "another account"),
        ({"FunctionName": "f", "TenantId": "bad\ttenant"}, None, "TenantId must be 1 to 256"),
        ({"FunctionName": "f"}, '"' + "x" * 1_048_576 + '"', "input payload size must be less"),
    ]:
        update = {**invoke, "ChainedInvokeOptions": options}
        if payload is not None:
            update["Payload"] = payload
        with pytest.raises(CheckpointError) as caught:
            driver.send(step_start("s"), update)
        assert_rejected(caught.value, message)
    assert service.get_operations(driver.arn)[1:] == []  # nothing of the batches applied


def test_empty_strings_count_as_absent_like_on_the_wire(service: LocalService) -> None:
    from durable_mp.lambda_service import OperationAction, OperationType, OperationUpdate

    driver = Driver(service)
    update = OperationUpdate("s", OperationType.STEP, OperationAction.START, parent_id="", name="", sub_type="")
    service.checkpoint(driver.arn, driver.token, [update], None)
    assert driver.operation("s").status is OperationStatus.STARTED
