"""Errors of the testing library, under the names AWS's testing library gives them.

A test written for ``aws_durable_execution_sdk_python_testing`` that catches one of these
keeps working once its import prefix is ``durable_mp.testing``.
"""

from __future__ import annotations


class DurableFunctionsTestError(Exception):
    """A test runner could not do what the test asked (no such operation, no result...)."""


class DurableFunctionsLocalRunnerError(Exception):
    """The local runner itself is misused (started twice, closed, misconfigured)."""


class InvalidParameterValueException(DurableFunctionsLocalRunnerError):
    """An argument the service would reject (a blank ARN, a wrong operation type)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ResourceNotFoundException(DurableFunctionsLocalRunnerError):
    """No execution or callback by that id."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
