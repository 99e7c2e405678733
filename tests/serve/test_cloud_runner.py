"""DurableFunctionCloudTestRunner against a local Lambda-compatible pair: AWS's durable
service (``dex-local-runner``) with its functions served by ``durable-mp serve``.

The runner talks boto3 to dex (GetDurableExecution, history, callbacks); dex has no
Invoke, so the runner starts the execution through dex's start route, and dex invokes
the handler at serve's Invoke endpoint, where its steps run in worker processes.
"""

from __future__ import annotations

import json
from pathlib import Path

from durable_mp.lambda_service import InvocationStatus, OperationStatus
from durable_mp.testing import DurableFunctionCloudTestRunner, ExecutionStatus
from tests.serve.helpers import DUMMY_AWS
from tests.serve.test_dex_acceptance import dex_and_serve  # noqa: F401 (fixture)

SERVED = Path(__file__).resolve().parents[1] / "testing" / "served_handlers.py"


def test_the_cloud_runner_runs_a_test_against_dex_and_serve(dex_and_serve, monkeypatch):  # noqa: F811
    for name, value in DUMMY_AWS.items():
        monkeypatch.setenv(name, value)
    dex_url, _client, _serve = dex_and_serve(f"{SERVED}:approval_flow")
    runner = DurableFunctionCloudTestRunner(
        "approval_flow", region="us-west-2", lambda_endpoint=dex_url, poll_interval=0.2
    )
    with runner:
        arn = runner.run_async(input={"n": 7}, timeout=60)
        callback_id = runner.wait_for_callback(arn, name="approval", timeout=60)
        runner.send_callback_success(callback_id, json.dumps("go").encode())
        result = runner.wait_for_result(arn, timeout=60)

    assert result.status is InvocationStatus.SUCCEEDED, result.error
    assert result.execution_status is ExecutionStatus.SUCCEEDED
    assert json.loads(result.result) == {"quote": 21, "decision": json.dumps("go")}
    assert result.get_step("quote").result == "21"
    assert result.get_wait("pause").status is OperationStatus.SUCCEEDED
    approval = result.get_callback("approval")
    assert approval.status is OperationStatus.SUCCEEDED
    assert approval.callback_id == callback_id
