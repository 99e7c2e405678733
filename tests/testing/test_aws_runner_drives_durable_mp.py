"""Acceptance: AWS's own DurableFunctionTestRunner drives a durable-mp handler.

AWS's runner hands the handler its own invocation input and in-memory service client;
``durable_execution`` takes them by duck typing. The result, operation by operation, is
the one ``durable_mp.testing`` gives for the same handler and the same test steps.
"""

from __future__ import annotations

import json

from aws_durable_execution_sdk_python_testing.runner import (
    DurableFunctionTestRunner as AwsRunner,
)

from durable_mp.testing import DurableFunctionTestRunner
from tests.testing import handlers


def drive(runner_class, ledger):
    with runner_class(handlers.workflow) as runner:
        arn = runner.run_async(input=json.dumps({"x": 5, "ledger": ledger}), execution_timeout=60)
        callback_id = runner.wait_for_callback(arn, name="approval", timeout=60)
        runner.send_callback_success(callback_id, json.dumps("yes").encode())
        return runner.wait_for_result(arn, timeout=60)


def tree(operations):
    return sorted(
        (op.name, op.operation_type.value, op.status.value, getattr(op, "result", None),
         getattr(op, "attempt", None), tree(getattr(op, "child_operations", [])))
        for op in operations
    )


def test_aws_runner_gets_the_result_durable_mp_testing_gets(tmp_path):
    theirs = drive(AwsRunner, str(tmp_path / "aws-ledger"))
    ours = drive(DurableFunctionTestRunner, str(tmp_path / "our-ledger"))

    assert theirs.status.value == ours.status.value == "SUCCEEDED"
    assert json.loads(theirs.result) == json.loads(ours.result) == {
        "doubled": 10,
        "retried": "ok after 3",
        "summary": 14,
        "approval": json.dumps("yes"),
    }
    assert tree(theirs.operations) == tree(ours.operations)
    assert len(theirs.get_all_operations()) == len(ours.get_all_operations()) == 13
