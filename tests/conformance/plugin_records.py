"""Where the conformance plugins' JSON records go: plain stdout, unless a harness listens.

The plugin requirements (10-x) have each plugin print one JSON object per hook to stdout
with a ``durableExecutionArn`` field, which is how the records reach CloudWatch on
Lambda. A served runtime does exactly that (serve's stdout goes to a file the dex target
reads); the in-process embedded target sets :data:`sink` to file them straight into its
log book, since concurrent executions share this process's stdout. Each record carries
``time`` so records from different streams can be put back in order.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

ARN_FIELD = "durableExecutionArn"

sink: Callable[[dict[str, Any]], None] | None = None


def emit(record: dict[str, Any], execution_arn: str | None) -> None:
    if execution_arn:
        record = {ARN_FIELD: execution_arn, **record}
    record["time"] = time.time()
    if sink is not None:
        sink(record)
        return
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()
