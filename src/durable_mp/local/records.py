"""What the local service hands out: execution records, invocations, ARNs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import datetime

    from durable_mp.invocation_input import DurableExecutionInvocationInput
    from durable_mp.lambda_service import ErrorObject

RUNNING: Final = "RUNNING"
SUCCEEDED: Final = "SUCCEEDED"
FAILED: Final = "FAILED"
TIMED_OUT: Final = "TIMED_OUT"
STOPPED: Final = "STOPPED"
TERMINAL_STATUSES: Final = frozenset({SUCCEEDED, FAILED, TIMED_OUT, STOPPED})

EXECUTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@dataclass(frozen=True)
class ExecutionRecord:
    """One durable execution as the control plane reports it.

    ``status`` is RUNNING, SUCCEEDED, FAILED, TIMED_OUT or STOPPED; ``result`` is the
    serialized result of a SUCCEEDED execution, ``error`` the error of one that ended
    otherwise.
    """

    arn: str
    name: str
    function_name: str
    status: str
    input_payload: str | None
    result: str | None
    error: ErrorObject | None
    start_timestamp: datetime.datetime
    end_timestamp: datetime.datetime | None
    invocation_count: int

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class Invocation:
    """One handler invocation begun by the service.

    ``event`` is what Lambda would pass to the handler: the ARN, a fresh checkpoint
    token, the first page of operations with ``NextMarker``, and the ids of operations
    that changed since the previous invocation.
    """

    arn: str
    request_id: str
    started_at: datetime.datetime
    event: DurableExecutionInvocationInput


def function_arn(region: str, account_id: str, function_name: str) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:function:{function_name}:$LATEST"


def execution_arn(
    region: str, account_id: str, function_name: str, name: str, execution_id: str
) -> str:
    """The ARN; its last path segment is the EXECUTION operation's id, as the SDK expects."""
    return (
        f"{function_arn(region, account_id, function_name)}/durable-execution/{name}/{execution_id}"
    )
