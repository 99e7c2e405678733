"""The handler awslambdaric runs for a ``durable-mp serve`` TARGET.

serve starts each sandbox as ``python -m awslambdaric durable_mp.serve.entry.handler``
with the TARGET in the environment. Importing this module is the sandbox's INIT: it
imports the user's module (whose ``@durable_execution`` starts the step workers) and
builds the Lambda handler, made durable unless the TARGET is ``--plain``.
"""

from __future__ import annotations

import os
from typing import Any

from durable_mp.serve.functions import EXECUTOR_ENV, PLAIN_ENV, TARGET_ENV, WORKERS_ENV
from durable_mp.targets import load_target


def _load() -> Any:
    workers = os.environ.get(WORKERS_ENV)
    target = load_target(
        os.environ[TARGET_ENV],
        step_executor=os.environ.get(EXECUTOR_ENV) or None,  # type: ignore[arg-type]
        workers=int(workers) if workers else None,
        plain=os.environ.get(PLAIN_ENV) == "1",
    )
    return target.lambda_handler


handler = _load()
