"""Minimal ports of AWS examples written for an older SDK that also fail on the official
SDK 3.x. ``vendor.py`` applies each to AWS's text (before the prefixes are swapped), so
the ported test passes on the official SDK 3.x and on durable-mp alike; the resulting
diff is written to ``PORTS.diff``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Port:
    path: str  # relative to the examples package
    old: str  # exact text in AWS's file
    new: str
    reason: str


_QUALIFIED = (
    "SDK 3.x records an error's ErrorType module-qualified "
    "(aws_durable_execution_sdk_python.exceptions.X, durable_mp.exceptions.X once swapped); "
    "the example expects the bare class name of SDK 1.x"
)

PORTS: list[Port] = [
    Port(
        "test/wait_for_callback/test_wait_for_callback_failure.py",
        '"ErrorType": "CallbackExternalError",',
        '"ErrorType": "aws_durable_execution_sdk_python.exceptions.CallbackExternalError",',
        _QUALIFIED,
    ),
    Port(
        "test/wait_for_callback/test_wait_for_callback_submitter_failure.py",
        'assert error.type == "CallbackSubmitterError"',
        'assert error.type == "aws_durable_execution_sdk_python.exceptions.CallbackSubmitterError"',
        _QUALIFIED,
    ),
    Port(
        "test/wait_for_callback/test_wait_for_callback_timeout.py",
        'assert wait_for_callback_error.type == "CallbackTimeoutError"',
        "assert wait_for_callback_error.type == "
        '"aws_durable_execution_sdk_python.exceptions.CallbackTimeoutError"',
        _QUALIFIED,
    ),
    Port(
        "test/wait_for_callback/test_wait_for_callback_timeout.py",
        "if operation.sub_type is OperationSubType.WAIT_FOR_CALLBACK",
        "if operation.sub_type == OperationSubType.WAIT_FOR_CALLBACK",
        "SDK 3.x gives an operation's sub_type as the service's string, so it compares "
        "equal to the OperationSubType member but is not that object",
    ),
]
