"""Completion rules of map and parallel: when a batch is done, and whether it succeeded.

The official SDK exposes these from ``config``, which re-exports them; they live here so
``concurrency.models`` (the batch result) can use them without depending on the rest of
the configuration, and the serdes can know ``BatchResult`` without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from durable_mp.exceptions import ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable


class BatchItemStatus(Enum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STARTED = "STARTED"


class CompletionOutcome(Enum):
    """Whether a batch completed by ``should_complete`` counts as a success."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class CompletionDecision:
    """Returned by ``should_complete``; build it with continue_batch / complete_batch."""

    complete: bool
    outcome: CompletionOutcome | None = None

    def __post_init__(self) -> None:
        if self.complete and self.outcome is None:
            raise ValidationError("outcome is required when complete is True")
        if not self.complete and self.outcome is not None:
            raise ValidationError("outcome must be None when complete is False")


def continue_batch() -> CompletionDecision:
    """Keep the batch running."""
    return CompletionDecision(complete=False)


def complete_batch(outcome: CompletionOutcome = CompletionOutcome.SUCCEEDED) -> CompletionDecision:
    """Complete the batch now, as a success unless ``outcome`` says otherwise."""
    return CompletionDecision(complete=True, outcome=outcome)


@dataclass(frozen=True)
class CompletionItemStatus:
    """One branch in a CompletionStatus; ``status`` None means not started yet."""

    index: int
    name: str | None = None
    status: BatchItemStatus | None = None


@dataclass(frozen=True)
class CompletionStatus:
    """Progress of a batch, given to ``should_complete``."""

    success_count: int
    failure_count: int
    completed_count: int
    total_count: int
    items: tuple[CompletionItemStatus, ...] = ()


@dataclass(frozen=True)
class CompletionConfig:
    """When a map or parallel completes.

    Any criterion met completes the batch: ``min_successful`` successes, failures above
    ``tolerated_failure_count`` or ``tolerated_failure_percentage``, a ``should_complete``
    decision (which cannot be combined with the thresholds), or every item done. With no
    criterion at all, the first failure completes it (fail fast).
    """

    min_successful: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: int | float | None = None
    should_complete: Callable[[CompletionStatus], CompletionDecision] | None = None

    def __post_init__(self) -> None:
        if self.min_successful is not None and self.min_successful < 1:
            raise ValidationError(f"min_successful must be at least 1, got: {self.min_successful}")
        if self.tolerated_failure_count is not None and self.tolerated_failure_count < 0:
            raise ValidationError(
                f"tolerated_failure_count must be non-negative, got: {self.tolerated_failure_count}"
            )
        percentage = self.tolerated_failure_percentage
        if percentage is not None and not 0 <= percentage <= 100:
            raise ValidationError(
                f"tolerated_failure_percentage must be between 0 and 100, got: {percentage}"
            )
        if self.should_complete is not None and not callable(self.should_complete):
            raise ValidationError("should_complete must be callable")
        if self.should_complete is not None and (
            self.min_successful is not None
            or self.tolerated_failure_count is not None
            or percentage is not None
        ):
            raise ValidationError(
                "should_complete cannot be combined with min_successful, "
                "tolerated_failure_count, or tolerated_failure_percentage"
            )

    def _validate_for_total(self, total: int) -> None:
        if self.min_successful is not None and self.min_successful > total:
            raise ValidationError(
                f"min_successful cannot be greater than total items: "
                f"{self.min_successful} > {total}"
            )

    @staticmethod
    def first_successful() -> CompletionConfig:
        return CompletionConfig(min_successful=1)

    @staticmethod
    def all_completed() -> CompletionConfig:
        return CompletionConfig(tolerated_failure_percentage=100)

    @staticmethod
    def all_successful() -> CompletionConfig:
        return CompletionConfig(tolerated_failure_count=0, tolerated_failure_percentage=0)
