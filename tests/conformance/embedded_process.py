"""One process of an embedded run whose handler crashes its runtime.

``python -m tests.conformance.embedded_process STORE ID --input JSON`` starts requirement
ID's durable-mp handler on the embedded service in the SQLite file STORE, prints the
execution ARN, and drives it; ``--arn ARN`` takes an execution over after the previous
process died (the service then records that invocation as ``Runtime.ExitError``).
Execution log records go to stderr as JSON lines.
"""

from __future__ import annotations

import argparse
import sys

from durable_mp.local import LocalRunner, LocalService
from tests.conformance import registry
from tests.conformance.logs import install_json_lines
from tests.conformance.spec import load


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("requirement")
    parser.add_argument("--input", default=None)
    parser.add_argument("--arn", default=None)
    args = parser.parse_args()
    install_json_lines(sys.stderr)
    spec = load(args.requirement)
    requirement = registry.built("durable_mp").find(spec.id, spec.suite)
    durable, plain = registry.split_functions(requirement, "durable_mp")
    main_name = f"req-{spec.id}"
    with LocalService(args.store) as service:
        runner = LocalRunner(
            service,
            {main_name: registry.lambda_handler(requirement, "durable_mp"), **durable},
            plain_functions=plain,
            fast_forward=not spec.callback_actions,
        )
        arn = args.arn or runner.start(main_name, args.input or None)
        print(arn, flush=True)
        runner.drive(arn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
