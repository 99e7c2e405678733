"""Wait strategies for ``wait_for_condition``: ``(state, attempts_made) -> decision``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from durable_mp.config import Duration, JitterStrategy
from durable_mp.exceptions import WaitForConditionError

if TYPE_CHECKING:
    from collections.abc import Callable

    from durable_mp.serdes import SerDes

T = TypeVar("T")
Numeric = int | float


@dataclass
class WaitStrategyConfig(Generic[T]):
    """Poll with exponential backoff while ``should_continue_polling(state)`` holds."""

    should_continue_polling: Callable[[T], bool]
    max_attempts: int = 60
    initial_delay: Duration = field(default_factory=lambda: Duration.from_seconds(5))
    max_delay: Duration = field(default_factory=lambda: Duration.from_minutes(5))
    backoff_rate: Numeric = 1.5
    jitter_strategy: JitterStrategy = JitterStrategy.FULL

    @property
    def initial_delay_seconds(self) -> int:
        return self.initial_delay.to_seconds()

    @property
    def max_delay_seconds(self) -> int:
        return self.max_delay.to_seconds()


@dataclass(frozen=True)
class WaitForConditionDecision:
    """Keep polling after ``delay``, or stop (the condition is met)."""

    should_continue: bool
    delay: Duration

    @property
    def delay_seconds(self) -> int:
        return self.delay.to_seconds()

    @classmethod
    def continue_waiting(cls, delay: Duration) -> WaitForConditionDecision:
        return cls(should_continue=True, delay=delay)

    @classmethod
    def stop_polling(cls) -> WaitForConditionDecision:
        return cls(should_continue=False, delay=Duration())


def create_wait_strategy(
    config: WaitStrategyConfig[T],
) -> Callable[[T, int], WaitForConditionDecision]:
    """A strategy from a config; running out of attempts raises WaitForConditionError.

    A condition met on the last attempt still counts as met.
    """

    def wait_strategy(state: T, attempts_made: int) -> WaitForConditionDecision:
        if not config.should_continue_polling(state):
            return WaitForConditionDecision.stop_polling()
        if attempts_made >= config.max_attempts:
            raise WaitForConditionError(
                f"wait_for_condition exhausted {config.max_attempts} attempts before the "
                "condition was met"
            )
        base = min(
            config.initial_delay_seconds * config.backoff_rate ** (attempts_made - 1),
            config.max_delay_seconds,
        )
        return WaitForConditionDecision.continue_waiting(
            Duration(config.jitter_strategy.finalize_delay(base))
        )

    return wait_strategy


@dataclass(frozen=True)
class WaitForConditionConfig(Generic[T]):
    """``wait_strategy`` decides after each check; ``initial_state`` feeds the first one."""

    wait_strategy: Callable[[T, int], WaitForConditionDecision]
    initial_state: T
    serdes: SerDes[Any] | None = None
