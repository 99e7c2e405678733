"""Retry strategies: ``(error, attempts_made) -> RetryDecision``.

``attempts_made`` counts attempts including the one that just failed (1 after the first
failure). Delays are whole seconds, at least 1, because the service schedules retries in
seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Protocol, Self, TypeVar

from durable_mp.config import (
    Duration,
    JitterStrategy,
)
from durable_mp.config import (
    RetryDecision as RetryDecision,  # re-exported: the official SDK defines it here
)

if TYPE_CHECKING:
    from durable_mp.config import ChildConfig

T = TypeVar("T")
R = TypeVar("R")
Numeric = int | float
RetryStrategy = Callable[[Exception, int], "RetryDecision"]

_MATCH_ALL = re.compile(r".*")


@dataclass
class RetryStrategyConfig:
    """Exponential backoff: ``initial_delay * backoff_rate ** (attempt - 1)``, capped.

    ``retryable_errors`` are substrings or regular expressions matched against the error
    message, ``retryable_error_types`` exception classes; an error is retried when it
    matches either. With neither set, every error is retried.
    """

    max_attempts: int = 3
    initial_delay: Duration = field(default_factory=lambda: Duration.from_seconds(5))
    max_delay: Duration = field(default_factory=lambda: Duration.from_minutes(5))
    backoff_rate: Numeric = 2.0
    jitter_strategy: JitterStrategy = JitterStrategy.FULL
    retryable_errors: list[str | re.Pattern[str]] | None = None
    retryable_error_types: list[type[Exception]] | None = None

    @property
    def initial_delay_seconds(self) -> int:
        return self.initial_delay.to_seconds()

    @property
    def max_delay_seconds(self) -> int:
        return self.max_delay.to_seconds()


@dataclass
class LinearRetryStrategyConfig:
    """Linear backoff: ``initial_delay + increment * (attempt - 1)``, capped."""

    max_attempts: int = 6
    initial_delay: Duration = field(default_factory=lambda: Duration.from_seconds(1))
    increment: Duration = field(default_factory=lambda: Duration.from_seconds(1))
    max_delay: Duration = field(default_factory=lambda: Duration.from_minutes(5))
    jitter_strategy: JitterStrategy = JitterStrategy.FULL
    retryable_errors: list[str | re.Pattern[str]] | None = None
    retryable_error_types: list[type[Exception]] | None = None


def _error_filter(
    patterns: list[str | re.Pattern[str]] | None, types: list[type[Exception]] | None
) -> Callable[[Exception], bool]:
    if patterns is None and types is None:
        patterns = [_MATCH_ALL]
    message_patterns = list(patterns or [])
    error_types = tuple(types or [])

    def matches(error: Exception) -> bool:
        message = str(error)
        if error_types and isinstance(error, error_types):
            return True
        return any(
            pattern.search(message) if isinstance(pattern, re.Pattern) else pattern in message
            for pattern in message_patterns
        )

    return matches


def _backoff_strategy(
    max_attempts: int,
    base_delay: Callable[[int], float],
    jitter: JitterStrategy,
    is_retryable: Callable[[Exception], bool],
) -> RetryStrategy:
    def retry_strategy(error: Exception, attempts_made: int) -> RetryDecision:
        if attempts_made >= max_attempts or not is_retryable(error):
            return RetryDecision.no_retry()
        return RetryDecision.retry(Duration(jitter.finalize_delay(base_delay(attempts_made))))

    return retry_strategy


def create_retry_strategy(config: RetryStrategyConfig | None = None) -> RetryStrategy:
    """A strategy with exponential backoff (see :class:`RetryStrategyConfig`)."""
    cfg = config or RetryStrategyConfig()
    return _backoff_strategy(
        cfg.max_attempts,
        lambda attempt: min(
            cfg.initial_delay_seconds * cfg.backoff_rate ** (attempt - 1), cfg.max_delay_seconds
        ),
        cfg.jitter_strategy,
        _error_filter(cfg.retryable_errors, cfg.retryable_error_types),
    )


def create_linear_retry_strategy(config: LinearRetryStrategyConfig | None = None) -> RetryStrategy:
    """A strategy whose delay grows by a fixed increment."""
    cfg = config or LinearRetryStrategyConfig()
    return _backoff_strategy(
        cfg.max_attempts,
        lambda attempt: min(
            cfg.initial_delay.seconds + cfg.increment.seconds * (attempt - 1), cfg.max_delay.seconds
        ),
        cfg.jitter_strategy,
        _error_filter(cfg.retryable_errors, cfg.retryable_error_types),
    )


class RetryPresets:
    """Ready-made strategies (the official SDK's presets)."""

    @classmethod
    def none(cls) -> RetryStrategy:
        """Never retry."""
        return create_retry_strategy(RetryStrategyConfig(max_attempts=1))

    @classmethod
    def default(cls) -> RetryStrategy:
        """Used when a step has no strategy: 6 attempts, 5 s doubling to at most 60 s."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=6,
                initial_delay=Duration.from_seconds(5),
                max_delay=Duration.from_minutes(1),
                backoff_rate=2,
                jitter_strategy=JitterStrategy.FULL,
            )
        )

    @classmethod
    def transient(cls) -> RetryStrategy:
        return create_retry_strategy(
            RetryStrategyConfig(max_attempts=3, backoff_rate=2, jitter_strategy=JitterStrategy.HALF)
        )

    @classmethod
    def resource_availability(cls) -> RetryStrategy:
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=5,
                initial_delay=Duration.from_seconds(5),
                max_delay=Duration.from_minutes(5),
                backoff_rate=2,
            )
        )

    @classmethod
    def critical(cls) -> RetryStrategy:
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=10,
                initial_delay=Duration.from_seconds(1),
                max_delay=Duration.from_minutes(1),
                backoff_rate=1.5,
                jitter_strategy=JitterStrategy.NONE,
            )
        )

    @classmethod
    def linear(cls) -> RetryStrategy:
        """1 s, 2 s, 3 s, 4 s, 5 s."""
        return create_linear_retry_strategy(
            LinearRetryStrategyConfig(jitter_strategy=JitterStrategy.NONE)
        )

    @classmethod
    def fixed(cls, interval: Duration | None = None) -> RetryStrategy:
        """A constant delay (5 s by default), 5 attempts."""
        delay = interval if interval is not None else Duration.from_seconds(5)
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=5,
                initial_delay=delay,
                max_delay=delay,
                backoff_rate=1,
                jitter_strategy=JitterStrategy.NONE,
            )
        )


@dataclass(frozen=True)
class WithRetryConfig(Generic[T]):
    """Configuration of :func:`with_retry`.

    With ``wrap_with_run_in_child_context`` (default) the attempts run in one child
    context and a final failure surfaces as ``ChildContextError``; without it the original
    error propagates.
    """

    retry_strategy: RetryStrategy | None = None
    wrap_with_run_in_child_context: bool = True
    child_context_config: ChildConfig[T] | None = None


class RetryableContext(Protocol):
    """What :func:`with_retry` needs of a context (``DurableContext`` has it)."""

    def wait(self, duration: Duration, name: str | None = None) -> None: ...

    def run_in_child_context(
        self,
        func: Callable[[Self], R],
        name: str | None = None,
        config: ChildConfig[R] | None = None,
    ) -> R: ...


C = TypeVar("C", bound=RetryableContext)


def with_retry(
    context: C,
    func: Callable[[C, int], T],
    config: WithRetryConfig[T],
    name: str | None = None,
) -> T:
    """Re-run a block of durable operations, with durable waits between attempts.

    Unlike a step's retry, which re-runs one body, this re-runs ``func`` -- which may hold
    several operations -- from the top. ``func`` receives the attempt number (from 1).
    """
    strategy = config.retry_strategy or create_retry_strategy()

    def attempts(ctx: C) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return func(ctx, attempt)
            except Exception as error:
                decision = strategy(error, attempt)
                if not decision.should_retry:
                    raise
                ctx.wait(decision.delay, name=f"{name}-backoff-{attempt}" if name else None)

    if config.wrap_with_run_in_child_context:
        return context.run_in_child_context(attempts, name=name, config=config.child_context_config)
    return attempts(context)
