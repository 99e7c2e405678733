"""Configuration types, with the official SDK's names, fields and positional order.

durable-mp adds three keyword fields to :class:`StepConfig`: ``executor`` (where the step
body runs), ``timeout`` and ``memory_limit_mb`` (enforced by killing the worker).
"""

from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

from durable_mp.concurrency.completion import (  # re-exported: official names
    BatchItemStatus as BatchItemStatus,
)
from durable_mp.concurrency.completion import (
    CompletionConfig as CompletionConfig,
)
from durable_mp.concurrency.completion import (
    CompletionDecision as CompletionDecision,
)
from durable_mp.concurrency.completion import (
    CompletionItemStatus as CompletionItemStatus,
)
from durable_mp.concurrency.completion import (
    CompletionOutcome as CompletionOutcome,
)
from durable_mp.concurrency.completion import (
    CompletionStatus as CompletionStatus,
)
from durable_mp.concurrency.completion import (
    complete_batch as complete_batch,
)
from durable_mp.concurrency.completion import (
    continue_batch as continue_batch,
)
from durable_mp.exceptions import ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from durable_mp.serdes import SerDes
    from durable_mp.types import SummaryGenerator

T = TypeVar("T")

Numeric = int | float
StepExecutorName = Literal["process", "thread", "inline"]
STEP_EXECUTORS: tuple[StepExecutorName, ...] = ("process", "thread", "inline")


@dataclass(frozen=True)
class Duration:
    """A length of time in whole seconds."""

    seconds: int = 0

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValidationError("Duration seconds must be positive")

    def to_seconds(self) -> int:
        return self.seconds

    @classmethod
    def from_seconds(cls, value: float) -> Duration:
        return cls(seconds=int(value))

    @classmethod
    def from_minutes(cls, value: float) -> Duration:
        return cls(seconds=int(value * 60))

    @classmethod
    def from_hours(cls, value: float) -> Duration:
        return cls(seconds=int(value * 3600))

    @classmethod
    def from_days(cls, value: float) -> Duration:
        return cls(seconds=int(value * 86400))


class StepSemantics(Enum):
    """How often one attempt of a step may run its body.

    AT_LEAST_ONCE_PER_RETRY (default): START is checkpointed without waiting; an attempt
    interrupted by a crash runs again. AT_MOST_ONCE_PER_RETRY: the body runs only after
    START is durable; an interrupted attempt is not re-run but handed to the retry
    strategy as :class:`~durable_mp.exceptions.StepInterruptedError`.
    """

    AT_MOST_ONCE_PER_RETRY = "AT_MOST_ONCE_PER_RETRY"
    AT_LEAST_ONCE_PER_RETRY = "AT_LEAST_ONCE_PER_RETRY"


class JitterStrategy(StrEnum):
    """Noise added to retry delays so that retries of many executions spread out."""

    NONE = "NONE"
    FULL = "FULL"  # uniform in [0, delay]
    HALF = "HALF"  # uniform in [delay/2, delay]

    def apply_jitter(self, delay: float) -> float:
        match self:
            case JitterStrategy.NONE:
                return delay
            case JitterStrategy.HALF:
                return delay / 2 + random.random() * (delay / 2)
            case _:
                return random.random() * delay

    def finalize_delay(self, base_delay: float) -> int:
        """Jitter, round up, and never go below the service minimum of one second."""
        return max(1, math.ceil(self.apply_jitter(base_delay)))


@dataclass
class RetryDecision:
    """Whether to retry, and after how long."""

    should_retry: bool
    delay: Duration

    @property
    def delay_seconds(self) -> int:
        return self.delay.to_seconds()

    @classmethod
    def retry(cls, delay: Duration) -> RetryDecision:
        return cls(should_retry=True, delay=delay)

    @classmethod
    def no_retry(cls) -> RetryDecision:
        return cls(should_retry=False, delay=Duration())


_SUB_TYPE_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_")
_SUB_TYPE_MAX_LENGTH = 32


def _validate_sub_type(sub_type: str | None) -> None:
    if not sub_type:
        return
    if len(sub_type) > _SUB_TYPE_MAX_LENGTH or not set(sub_type) <= _SUB_TYPE_CHARACTERS:
        raise ValidationError(
            f"sub_type must be 1 to {_SUB_TYPE_MAX_LENGTH} characters from A-Z, a-z, 0-9, "
            f"hyphen, and underscore, got: {sub_type!r}"
        )


CheckpointingMode = Literal["synchronous", "pipelined"]
CHECKPOINTING_MODES: tuple[CheckpointingMode, ...] = ("synchronous", "pipelined")


def _one_of(value: str, choices: tuple[str, ...], source: str, what: str) -> None:
    if value not in choices:
        raise ValidationError(
            f"{source}={value!r} is not {what}; use one of "
            + ", ".join(repr(name) for name in choices)
        )


def validate_checkpointing(
    mode: str | None, source: str = "checkpointing"
) -> CheckpointingMode | None:
    """Check a checkpointing mode; ``source`` names where it came from for the message."""
    if mode is None:
        return None
    _one_of(mode, CHECKPOINTING_MODES, source, "a checkpointing mode")
    return cast("CheckpointingMode", mode)


def validate_executor(executor: str | None, source: str = "executor") -> StepExecutorName | None:
    """Check an executor name; ``source`` names where it came from for the message."""
    if executor is None:
        return None
    _one_of(executor, STEP_EXECUTORS, source, "a step executor")
    return cast("StepExecutorName", executor)


@dataclass(frozen=True)
class StepConfig:
    """Configuration of one step.

    Args:
        retry_strategy: ``(error, attempts_made) -> RetryDecision``; the official default
            (6 attempts, exponential backoff from 5 s) when None.
        step_semantics: see :class:`StepSemantics`.
        serdes: serializes the result; the extended-types default when None. In process
            mode it runs in the worker, so the parent never pays for it.
        executor: ``"process"``, ``"thread"`` or ``"inline"``; None defers to the handler's
            ``step_executor`` and then to ``DURABLE_MP_STEP_EXECUTOR`` (default process).
        timeout: longest an attempt may run, as a Duration or seconds. In process mode the
            worker's process tree is killed; in thread mode the attempt is abandoned. Either
            way the attempt fails with ``StepTimeoutError`` and goes to the retry strategy.
        memory_limit_mb: largest resident memory of the worker's process tree (process
            mode only); above it the tree is killed and the attempt fails with
            ``StepMemoryLimitError``.
        sub_type: the subtype recorded for the operation (default "Step").
    """

    retry_strategy: Callable[[Exception, int], RetryDecision] | None = None
    step_semantics: StepSemantics = StepSemantics.AT_LEAST_ONCE_PER_RETRY
    serdes: SerDes[Any] | None = None
    executor: StepExecutorName | None = None
    timeout: Duration | float | None = None
    memory_limit_mb: float | None = None
    sub_type: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _validate_sub_type(self.sub_type)
        validate_executor(self.executor, "StepConfig(executor)")
        timeout = self.timeout_seconds
        if timeout is not None and timeout <= 0:
            raise ValidationError(f"StepConfig(timeout) must be positive, got {self.timeout!r}")
        if self.memory_limit_mb is not None and self.memory_limit_mb <= 0:
            raise ValidationError(
                f"StepConfig(memory_limit_mb) must be positive, got {self.memory_limit_mb!r}"
            )

    @property
    def timeout_seconds(self) -> float | None:
        if self.timeout is None:
            return None
        if isinstance(self.timeout, Duration):
            return float(self.timeout.seconds)
        return float(self.timeout)


@dataclass(frozen=True)
class ChildConfig(Generic[T]):
    """Configuration of a child context.

    Args:
        serdes: serializes the child's result.
        sub_type: the subtype recorded for the operation (default "RunInChildContext").
        summary_generator: for results above 256 KB, produces the (small) payload that is
            checkpointed instead; the child then re-runs on replay (ReplayChildren).
        is_virtual: the child records no CONTEXT operation of its own.
    """

    serdes: SerDes[Any] | None = None
    sub_type: str | None = None
    summary_generator: SummaryGenerator[Any] | None = None
    is_virtual: bool = False

    def __post_init__(self) -> None:
        _validate_sub_type(self.sub_type)


# -- callbacks, invoke ------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackConfig:
    """Configuration of a callback.

    Args:
        timeout: how long to wait for the callback (zero: no timeout).
        heartbeat_timeout: longest gap between heartbeats (zero: no heartbeat check).
        serdes: deserializes the callback's result; when None the raw string is returned.
        sub_type: the subtype recorded for the operation (default "Callback").
    """

    timeout: Duration = field(default_factory=Duration)
    heartbeat_timeout: Duration = field(default_factory=Duration)
    serdes: SerDes[Any] | None = None
    sub_type: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _validate_sub_type(self.sub_type)

    @property
    def timeout_seconds(self) -> int:
        return self.timeout.to_seconds()

    @property
    def heartbeat_timeout_seconds(self) -> int:
        return self.heartbeat_timeout.to_seconds()


@dataclass(frozen=True)
class WaitForCallbackConfig(CallbackConfig):
    """A callback plus the retry strategy of its submitter step."""

    retry_strategy: Callable[[Exception, int], RetryDecision] | None = None


P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True)
class InvokeConfig(Generic[P, R]):
    """Configuration of a chained invoke: payload and result serdes (JSON by default)."""

    serdes_payload: SerDes[P] | None = None
    serdes_result: SerDes[R] | None = None
    tenant_id: str | None = None


# -- map and parallel -------------------------------------------------------------------


class NestingType(Enum):
    """How map and parallel branches are recorded: each in a CONTEXT (NESTED), or not
    at all (FLAT: fewer operations, less history)."""

    NESTED = "NESTED"
    FLAT = "FLAT"


def _validate_concurrency(max_concurrency: int | None) -> None:
    if max_concurrency is not None and max_concurrency < 1:
        raise ValidationError(f"max_concurrency must be at least 1, got: {max_concurrency}")


@dataclass(frozen=True)
class MapConfig(Generic[T]):
    """Configuration of ``ctx.map``.

    Args:
        max_concurrency: items in flight at once (None: all).
        completion_config: when the map completes (default: fail fast).
        serdes: serializes the BatchResult (and items, when item_serdes is None).
        item_serdes: serializes each item's result.
        summary_generator: a summary stored with large results (> 256 KB).
        nesting_type: NESTED (a CONTEXT per item) or FLAT.
        item_namer: ``(item, index) -> name`` (default ``map-item-<index>``).
    """

    max_concurrency: int | None = None
    completion_config: CompletionConfig = field(default_factory=CompletionConfig)
    serdes: SerDes[Any] | None = None
    item_serdes: SerDes[Any] | None = None
    summary_generator: SummaryGenerator[Any] | None = None
    nesting_type: NestingType = NestingType.NESTED
    item_namer: Callable[[T, int], str] | None = None

    def __post_init__(self) -> None:
        _validate_concurrency(self.max_concurrency)


@dataclass(frozen=True)
class ParallelConfig:
    """Configuration of ``ctx.parallel`` (default: every branch must succeed)."""

    max_concurrency: int | None = None
    completion_config: CompletionConfig = field(default_factory=CompletionConfig.all_successful)
    serdes: SerDes[Any] | None = None
    item_serdes: SerDes[Any] | None = None
    summary_generator: SummaryGenerator[Any] | None = None
    nesting_type: NestingType = NestingType.NESTED

    def __post_init__(self) -> None:
        _validate_concurrency(self.max_concurrency)


@dataclass(frozen=True)
class ParallelBranch(Generic[T]):
    """A parallel branch with a name for the history (default ``parallel-branch-<i>``)."""

    func: Callable[..., T]
    name: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        return self.func(*args, **kwargs)
