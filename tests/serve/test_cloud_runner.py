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

SERVED = Path(__file__).resolve().parents[1] / "testing" / "served_handlers.py"


def test_the_cloud_runner_runs_a_test_against_dex_and_serve(dex_and_serve, monkeypatch):
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


SAME_TEST_BOTH_MODES = '''
import json

import pytest
from durable_mp.lambda_service import InvocationStatus

import approval


@pytest.mark.durable_execution(handler=approval.approval_flow, lambda_function_name="Approval Flow")
def test_approval(durable_runner):
    with durable_runner:
        arn = durable_runner.run_async(input={"n": 2}, timeout=60)
        callback_id = durable_runner.wait_for_callback(execution_arn=arn, name="approval")
        durable_runner.send_callback_success(callback_id=callback_id, result=b'"ok"')
        result = durable_runner.wait_for_result(execution_arn=arn, timeout=60)
    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == {"quote": 6, "decision": '"ok"'}
    print("MODE", durable_runner.mode)
'''


def test_the_plugin_runs_one_test_file_locally_and_against_the_endpoint(dex_and_serve, tmp_path):
    import subprocess
    import sys

    from tests.serve.helpers import base_env

    (tmp_path / "approval.py").write_text(SERVED.read_text())
    (tmp_path / "test_approval.py").write_text(SAME_TEST_BOTH_MODES)
    dex_url, _client, _serve = dex_and_serve(f"{SERVED}:approval_flow")
    env = base_env(
        LAMBDA_ENDPOINT=dex_url,
        AWS_REGION="us-west-2",
        PYTEST_FUNCTION_NAME_MAP=json.dumps({"approval flow": "approval_flow"}),
    )
    for mode in ("local", "cloud"):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
             "--runner-mode", mode, str(tmp_path)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"MODE {mode}" in done.stdout and "1 passed" in done.stdout
