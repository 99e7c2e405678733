"""A test file as a team writes it for AWS's testing library, before moving to durable-mp.

It uses only the official packages' import prefixes. ``test_written_for_aws.py`` runs it
twice: as it is, on AWS's SDK and testing library, and with the two prefixes replaced,
on durable-mp under its pytest plugin. It is not collected itself (no ``test_`` prefix).
"""

import json
from pathlib import Path

import pytest
from aws_durable_execution_sdk_python.config import CallbackConfig, Duration, StepConfig
from aws_durable_execution_sdk_python.context import (
    DurableContext,
    durable_step,
    durable_with_child_context,
)
from aws_durable_execution_sdk_python.execution import InvocationStatus, durable_execution
from aws_durable_execution_sdk_python.lambda_service import (
    ErrorObject,
    OperationStatus,
    OperationType,
)
from aws_durable_execution_sdk_python.retries import (
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.types import StepContext
from aws_durable_execution_sdk_python_testing.runner import (
    DurableChildContextTestRunner,
    DurableFunctionTestRunner,
)


@durable_step
def price(step: StepContext, quantity: int) -> int:
    return quantity * 7


@durable_step
def flaky_reserve(step: StepContext, ledger: str) -> str:
    """Fails on its first two attempts (the attempts are counted in a file)."""
    path = Path(ledger)
    attempts = int(path.read_text() or "0") + 1 if path.exists() else 1
    path.write_text(str(attempts))
    if attempts < 3:
        raise RuntimeError(f"warehouse busy (attempt {attempts})")
    return f"reserved after {attempts} attempts"


RETRY = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_minutes(10),
            max_delay=Duration.from_minutes(10),
        )
    )
)


@durable_with_child_context
def ship(ctx: DurableContext, destination: str) -> str:
    label = ctx.step(lambda _: f"label for {destination}", name="label")
    ctx.wait(Duration.from_days(1), name="courier")
    return label


@durable_execution
def order(event, ctx: DurableContext) -> dict:
    total = ctx.step(price(event["quantity"]))
    reservation = ctx.step(flaky_reserve(event["ledger"]), config=RETRY)
    ctx.wait(Duration.from_hours(2), name="cooling-off")
    approval = ctx.create_callback(
        name="approval", config=CallbackConfig(timeout=Duration.from_hours(1))
    )
    decision = approval.result()
    receipt = ctx.invoke("billing", {"total": total}, name="bill")
    label = ctx.run_in_child_context(ship(event["city"]), name="shipping")
    return {
        "total": total,
        "reservation": reservation,
        "decision": decision,
        "receipt": receipt,
        "label": label,
    }


def billing(event, context) -> dict:
    return {"charged": event["total"], "currency": "EUR"}


@durable_execution
def refund(event, ctx: DurableContext) -> dict:
    callback = ctx.create_callback(name="refund-approval")
    try:
        callback.result()
    except Exception as error:
        return {"refunded": False, "why": str(error)}
    return {"refunded": True}


@durable_execution
def loyalty(event, ctx: DurableContext) -> int:
    return ctx.step(lambda _: event["points"] * 2, name="double")


@durable_execution
def with_loyalty(event, ctx: DurableContext) -> dict:
    points = ctx.invoke("loyalty", {"points": event["points"]}, name="loyalty-points")
    return {"points": points}


@pytest.mark.durable_execution(handler=order, lambda_function_name="order")
def test_order_with_callback_invoke_retries_and_skipped_time(durable_runner, tmp_path):
    durable_runner.register_function("billing", billing)
    event = {"quantity": 3, "ledger": str(tmp_path / "ledger"), "city": "Porto"}
    with durable_runner:
        arn = durable_runner.run_async(input=json.dumps(event), timeout=120)
        callback_id = durable_runner.wait_for_callback(execution_arn=arn, name="approval")
        durable_runner.send_callback_success(
            callback_id=callback_id, result=json.dumps("approved").encode()
        )
        result = durable_runner.wait_for_result(execution_arn=arn, timeout=120)

    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == {
        "total": 21,
        "reservation": "reserved after 3 attempts",
        "decision": json.dumps("approved"),
        "receipt": {"charged": 21, "currency": "EUR"},
        "label": "label for Porto",
    }

    reserve = result.get_step("flaky_reserve")
    assert reserve.status is OperationStatus.SUCCEEDED
    assert reserve.attempt == 3

    wait = result.get_wait("cooling-off")
    assert wait.operation_type is OperationType.WAIT
    # Time was skipped, but the history keeps the two hours the handler asked for.
    assert (wait.scheduled_end_timestamp - wait.start_timestamp).total_seconds() >= 7199

    approval = result.get_callback("approval")
    assert approval.status is OperationStatus.SUCCEEDED
    assert approval.callback_id == callback_id

    bill = result.get_invoke("bill")
    assert bill.status is OperationStatus.SUCCEEDED
    assert json.loads(bill.result) == {"charged": 21, "currency": "EUR"}

    shipping = result.get_context("shipping")
    assert shipping.get_step("label").result == json.dumps("label for Porto")
    assert shipping.get_wait("courier").status is OperationStatus.SUCCEEDED
    names = {op.name for op in result.get_all_operations()}
    assert {"price", "flaky_reserve", "cooling-off", "approval", "bill", "shipping",
            "label", "courier"} <= names


@pytest.mark.durable_execution(handler=refund, lambda_function_name="refund")
def test_refund_callback_failure(durable_runner):
    with durable_runner:
        arn = durable_runner.run_async(input=None, timeout=60)
        callback_id = durable_runner.wait_for_callback(execution_arn=arn)
        durable_runner.send_callback_heartbeat(callback_id=callback_id)
        durable_runner.send_callback_failure(
            callback_id=callback_id, error=ErrorObject.from_message("declined by bank")
        )
        result = durable_runner.wait_for_result(execution_arn=arn)

    assert result.status is InvocationStatus.SUCCEEDED
    outcome = json.loads(result.result)
    assert outcome["refunded"] is False
    assert "declined by bank" in outcome["why"]
    assert result.get_callback("refund-approval").status is OperationStatus.FAILED


def test_durable_invoke_target():
    with DurableFunctionTestRunner(handler=with_loyalty) as runner:
        runner.register_durable_function("loyalty", loyalty)
        result = runner.run(input=json.dumps({"points": 20}), execution_timeout=60)

    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == {"points": 40}
    assert result.get_invoke("loyalty-points").status is OperationStatus.SUCCEEDED


def test_child_context_on_its_own():
    with DurableChildContextTestRunner(ship, "Lisbon") as runner:
        result = runner.run(execution_timeout=60)

    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == "label for Lisbon"
    assert result.get_wait("courier").status is OperationStatus.SUCCEEDED
