"""Small public types passed to user functions, and the protocols they rely on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping

T = TypeVar("T")
C_contra = TypeVar("C_contra", contravariant=True)


class LoggerInterface(Protocol):
    """What a logger handed to user code must offer (a ``logging.Logger`` does)."""

    def debug(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None: ...
    def info(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None: ...
    def warning(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None: ...
    def error(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None: ...
    def exception(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None: ...


@dataclass(frozen=True)
class OperationContext:
    logger: LoggerInterface


@dataclass(frozen=True)
class StepContext(OperationContext):
    """Given to a step body.

    Attributes:
        attempt: 1 on the first attempt, 2 on the first retry, and so on.
        logger: a logger whose records carry the execution ARN, operation id and name,
            and attempt; from a worker process they reach the parent's logging.
    """

    attempt: int


@dataclass(frozen=True)
class WaitForCallbackContext(OperationContext):
    """Given to a wait_for_callback submitter."""


@dataclass(frozen=True)
class WaitForConditionCheckContext(OperationContext):
    """Given to a wait_for_condition check; ``attempt`` counts checks from 1."""

    attempt: int


class SummaryGenerator(Protocol[C_contra]):
    """Makes the small checkpoint payload that stands in for a large result."""

    def __call__(self, result: C_contra) -> str: ...


class LambdaContext(Protocol):
    """The parts of the Lambda context object durable-mp reads."""

    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int: ...


@dataclass
class LocalLambdaContext:
    """A Lambda context for handlers run outside Lambda (local service, ``serve``)."""

    aws_request_id: str
    function_name: str = "local"
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    memory_limit_in_mb: str = "1769"
    log_group_name: str | None = None
    log_stream_name: str | None = None
    tenant_id: str | None = None
    client_context: Any | None = None
    identity: Any | None = None
    deadline_ms: int | None = None

    def get_remaining_time_in_millis(self) -> int:
        if self.deadline_ms is None:
            return 900_000
        import time

        return max(0, self.deadline_ms - int(time.time() * 1000))

    def log(self, msg: str) -> None:
        print(msg)


_ALIASES = {
    "DurableContext": "durable_mp.context",
    "Callback": "durable_mp.engine.callback",
    "BatchResult": "durable_mp.concurrency.models",
}


def __getattr__(name: str) -> Any:
    """The official module also names these here; resolved lazily (import cycles)."""
    module = _ALIASES.get(name)
    if module is None:
        raise AttributeError(f"module 'durable_mp.types' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
