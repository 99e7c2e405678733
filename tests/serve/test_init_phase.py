"""INIT, as Lambda runs it: timed apart from the invocation, with its own timeout.

An INIT over ``--init-timeout`` is reported (``INIT_REPORT ... Status: timeout``) and
tried again within the invocation's own timeout, as Lambda does for on-demand functions;
the first REPORT line carries the INIT duration.
"""

from __future__ import annotations

import json

from tests.serve.helpers import HERE, base_env, durable_event, invoke_url, post


def test_an_init_over_its_timeout_is_retried_within_the_invocation(start_serve):
    serve = start_serve(f"{HERE / 'slow_init.py'}:slow_start", "--init-timeout", "1",
                        "--timeout", "30", env=base_env(SLOW_INIT_SECONDS="2"))
    serve.wait_for_error(lambda line: "INIT_REPORT Init Duration: " in line
                         and "Status: timeout" in line)
    status, headers, body = post(invoke_url(serve, "slow_start"), durable_event({}))
    assert status == 200 and "x-amz-function-error" not in headers, body
    assert json.loads(body["Result"])["pid"] > 0
    reports = serve.wait_for_error(lambda line: line.startswith("REPORT "))
    assert len(reports) == 1 and "Init Duration: " in reports[0]
    init_ms = float(reports[0].split("Init Duration: ")[1].split()[0])
    assert init_ms >= 2000  # the retried INIT, which did finish
