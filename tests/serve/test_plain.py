"""``serve --plain``: targets served as they are, beside durable ones."""

from __future__ import annotations

import subprocess
import sys

from tests.serve.helpers import HANDLERS, HERE, SERVE_CLI, base_env, durable_event, invoke_url, post

PLAIN = HERE / "plain_handlers.py"


def test_plain_targets_are_called_as_they_are_beside_durable_ones(start_serve):
    serve = start_serve(
        f"{HANDLERS}:whoami",
        "--plain",
        f"echo-fn={PLAIN}:echo",
        "--plain",
        f"{PLAIN}:already_durable",
        "--sandboxes",
        "1",
    )
    assert serve.ready_line.endswith("(whoami, echo-fn, already_durable)")
    status, headers, body = post(invoke_url(serve, "echo-fn"), {"a": [1, 2]})
    assert status == 200 and "x-amz-function-error" not in headers
    assert body == {"echo": {"a": [1, 2]}, "function": "echo-fn"}
    # Not wrapped by durable-mp: the durable event reaches the function untouched.
    _, _, body = post(invoke_url(serve, "already_durable"), durable_event({}))
    assert body["Result"] == '"by the other SDK"'
    assert body["arn"] == durable_event({})["DurableExecutionArn"]
    # The durable target next to them is still made durable.
    _, _, body = post(invoke_url(serve, "whoami"), durable_event({}))
    assert body["Status"] == "SUCCEEDED"


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SERVE_CLI), "serve", "--port", "0", *args],
        check=False,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_plain_target_must_take_event_and_context():
    completed = run_serve("--plain", f"{PLAIN}:three_arguments")
    assert completed.returncode == 2
    assert "is not a Lambda handler: expected a function (event, context)" in completed.stderr


def test_nothing_to_serve_is_a_usage_error():
    completed = run_serve()
    assert completed.returncode == 2
    assert completed.stderr.strip() == (
        "durable-mp serve: nothing to serve; give a TARGET or --plain TARGET"
    )
