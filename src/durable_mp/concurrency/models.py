"""Results and completion rules of ``ctx.map`` and ``ctx.parallel``.

Same names and wire shapes as the official SDK: a BatchResult checkpoints as
``{"all": [{"index", "status", "result", "error"}], "completionReason"}`` (tag ``br`` in
the extended-types envelope), and a result too large to checkpoint is replaced by a
summary envelope that records the completion decision so replay rebuilds the same result.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from durable_mp.concurrency.completion import (
    BatchItemStatus,
    CompletionConfig,
    CompletionDecision,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionStatus,
)
from durable_mp.exceptions import (
    ChildContextError,
    DurableOperationError,
    register_operation_error,
)
from durable_mp.lambda_service import ErrorObject

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from durable_mp.types import SummaryGenerator

R = TypeVar("R")


class CompletionReason(Enum):
    ALL_COMPLETED = "ALL_COMPLETED"
    MIN_SUCCESSFUL_REACHED = "MIN_SUCCESSFUL_REACHED"
    FAILURE_TOLERANCE_EXCEEDED = "FAILURE_TOLERANCE_EXCEEDED"
    CUSTOM_COMPLETION_SUCCEEDED = "CUSTOM_COMPLETION_SUCCEEDED"
    CUSTOM_COMPLETION_FAILED = "CUSTOM_COMPLETION_FAILED"


class BatchCompletionError(DurableOperationError):
    """``throw_if_error`` of a batch that ``should_complete`` declared failed."""

    def __init__(
        self,
        completion_reason: CompletionReason = CompletionReason.CUSTOM_COMPLETION_FAILED,
        message: str | None = None,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: list[str] | None = None,
    ) -> None:
        super().__init__(
            message or f"Batch completed as failed by should_complete ({completion_reason.value})",
            error_type,
            data,
            stack_trace,
        )
        self.completion_reason = completion_reason


register_operation_error(BatchCompletionError)


@dataclass(frozen=True)
class CompletionPolicy:
    """The completion rules of one batch of ``total`` branches."""

    total: int
    min_successful: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: int | float | None = None
    should_complete: Callable[[CompletionStatus], CompletionDecision] | None = None

    @classmethod
    def from_config(cls, total: int, config: CompletionConfig | None) -> CompletionPolicy:
        if config is None:
            return cls(total)
        return cls(
            total,
            config.min_successful,
            config.tolerated_failure_count,
            config.tolerated_failure_percentage,
            config.should_complete,
        )

    @property
    def _has_thresholds(self) -> bool:
        return (
            self.min_successful is not None
            or self.tolerated_failure_count is not None
            or self.tolerated_failure_percentage is not None
        )

    def tolerance_exceeded(self, failed: int) -> bool:
        """Too many failures; with no criterion at all, any failure is too many."""
        if self.should_complete is not None:
            return False
        if not self._has_thresholds:
            return failed > 0
        if self.tolerated_failure_count is not None and failed > self.tolerated_failure_count:
            return True
        if self.tolerated_failure_percentage is not None and self.total > 0:
            return failed / self.total * 100 > self.tolerated_failure_percentage
        return False

    def decide(
        self, succeeded: int, failed: int, items: tuple[CompletionItemStatus, ...]
    ) -> CompletionDecision | None:
        """Run ``should_complete`` (at most once per change of state)."""
        if self.should_complete is None:
            return None
        return self.should_complete(
            CompletionStatus(succeeded, failed, succeeded + failed, self.total, items)
        )

    def is_complete(self, succeeded: int, failed: int, decision: CompletionDecision | None) -> bool:
        if decision is not None and decision.complete:
            return True
        if succeeded + failed >= self.total or self.tolerance_exceeded(failed):
            return True
        return self.min_successful is not None and succeeded >= self.min_successful

    def reason(
        self, succeeded: int, failed: int, decision: CompletionDecision | None
    ) -> CompletionReason:
        if self.tolerance_exceeded(failed):
            return CompletionReason.FAILURE_TOLERANCE_EXCEEDED
        if decision is not None and decision.complete:
            if decision.outcome is CompletionOutcome.FAILED:
                return CompletionReason.CUSTOM_COMPLETION_FAILED
            return CompletionReason.CUSTOM_COMPLETION_SUCCEEDED
        if succeeded + failed >= self.total:
            return CompletionReason.ALL_COMPLETED
        if self.min_successful is not None and succeeded >= self.min_successful:
            return CompletionReason.MIN_SUCCESSFUL_REACHED
        return CompletionReason.ALL_COMPLETED


@dataclass(frozen=True)
class BatchItem(Generic[R]):
    """One branch's outcome; STARTED means it had not finished when the batch did."""

    index: int
    status: BatchItemStatus
    result: R | None = None
    error: ErrorObject | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "status": self.status.value,
            "result": self.result,
            "error": self.error.to_dict() if self.error else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchItem[R]:
        return cls(
            data["index"],
            BatchItemStatus(data["status"]),
            data.get("result"),
            ErrorObject.from_dict(data["error"]) if data.get("error") else None,
        )


@dataclass(frozen=True)
class BatchResult(Generic[R]):
    """What ``ctx.map`` and ``ctx.parallel`` return, items in index order."""

    all: list[BatchItem[R]]
    completion_reason: CompletionReason

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], completion_config: CompletionConfig | None = None
    ) -> BatchResult[R]:
        items: list[BatchItem[R]] = [BatchItem.from_dict(item) for item in data["all"]]
        reason = data.get("completionReason")
        if reason is None:
            return cls.from_items(items, completion_config)
        return cls(items, CompletionReason(reason))

    @classmethod
    def from_items(
        cls, items: list[BatchItem[R]], completion_config: CompletionConfig | None = None
    ) -> BatchResult[R]:
        """Infer the completion reason from the items (exact when every item is present)."""
        counts = Counter(item.status for item in items)
        policy = CompletionPolicy.from_config(len(items), completion_config)
        snapshot = tuple(CompletionItemStatus(item.index, status=item.status) for item in items)
        succeeded = counts[BatchItemStatus.SUCCEEDED]
        failed = counts[BatchItemStatus.FAILED]
        decision = policy.decide(succeeded, failed, snapshot)
        return cls(items, policy.reason(succeeded, failed, decision))

    def to_dict(self) -> dict[str, Any]:
        return {
            "all": [item.to_dict() for item in self.all],
            "completionReason": self.completion_reason.value,
        }

    def succeeded(self) -> list[BatchItem[R]]:
        return [item for item in self.all if item.status is BatchItemStatus.SUCCEEDED]

    def failed(self) -> list[BatchItem[R]]:
        return [item for item in self.all if item.status is BatchItemStatus.FAILED]

    def started(self) -> list[BatchItem[R]]:
        return [item for item in self.all if item.status is BatchItemStatus.STARTED]

    @property
    def status(self) -> BatchItemStatus:
        if self.completion_reason is CompletionReason.CUSTOM_COMPLETION_FAILED:
            return BatchItemStatus.FAILED
        if self.completion_reason is CompletionReason.CUSTOM_COMPLETION_SUCCEEDED:
            return BatchItemStatus.SUCCEEDED
        return BatchItemStatus.FAILED if self.has_failure else BatchItemStatus.SUCCEEDED

    @property
    def has_failure(self) -> bool:
        return any(item.status is BatchItemStatus.FAILED for item in self.all)

    def throw_if_error(self) -> None:
        """Raise the first failed item's error (as ChildContextError), if any."""
        first = next((item for item in self.all if item.status is BatchItemStatus.FAILED), None)
        if first is not None:
            if first.error is None:
                raise ChildContextError(message=f"Batch item {first.index} failed without an error")
            first.error.raise_as_operation_error(ChildContextError)
        if self.completion_reason is CompletionReason.CUSTOM_COMPLETION_FAILED:
            raise BatchCompletionError(self.completion_reason)

    def get_results(self) -> list[R]:
        return [cast("R", item.result) for item in self.succeeded()]

    def get_errors(self) -> list[ErrorObject | None]:
        return [item.error for item in self.failed()]

    @property
    def success_count(self) -> int:
        return len(self.succeeded())

    @property
    def failure_count(self) -> int:
        return len(self.failed())

    @property
    def started_count(self) -> int:
        return len(self.started())

    @property
    def total_count(self) -> int:
        return len(self.all)


# -- summary envelope of large results --------------------------------------------------


@dataclass(frozen=True)
class CompletionRecord:
    """The completion decision a summary envelope records, read back on replay.

    Branches start in index order, so those ever started are ``[0, started_total)``;
    ``started_indexes`` were still running when the batch completed.
    """

    completion_reason: CompletionReason
    started_total: int
    started_indexes: frozenset[int]

    @classmethod
    def parse(cls, payload: str | None) -> CompletionRecord | None:
        """The record in ``payload``, or None when it holds none (never raises)."""
        try:
            data = json.loads(payload) if payload else None
            if not isinstance(data, dict):
                return None
            reason = CompletionReason(data["completionReason"])
            total = data["totalCount"]
            if not isinstance(total, int) or isinstance(total, bool) or total < 0:
                return None
            if isinstance(data.get("startedIndexes"), list):
                started = _indexes(data["startedIndexes"], total)
            elif isinstance(data.get("completedIndexes"), list):
                completed = _indexes(data["completedIndexes"], total)
                started = None if completed is None else frozenset(range(total)) - completed
            else:
                return None
        except (ValueError, KeyError, TypeError):
            return None
        if started is None:
            return None
        return cls(reason, total, started)


def _indexes(raw: Iterable[object], total: int) -> frozenset[int] | None:
    found: set[int] = set()
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < total:
            return None
        found.add(value)
    return frozenset(found)


def summary_envelope(result: BatchResult[Any], result_type: str, summary: str | None) -> str:
    """The payload checkpointed in place of a batch result above the 256 KB limit."""
    started = [item.index for item in result.all if item.status is BatchItemStatus.STARTED]
    completed = [item.index for item in result.all if item.status is not BatchItemStatus.STARTED]
    fields: dict[str, object] = {
        "type": result_type,
        "totalCount": result.total_count,
        "completionReason": result.completion_reason.value,
    }
    if len(started) <= len(completed):
        fields["startedIndexes"] = started
    else:
        fields["completedIndexes"] = completed
    fields.update(
        startedCount=result.started_count,
        successCount=result.success_count,
        failureCount=result.failure_count,
        status=result.status.value,
    )
    if summary is not None:
        fields["summary"] = summary if isinstance(summary, str) else str(summary)
    return json.dumps(fields)


def envelope_summary_generator(
    result_type: str, custom: Callable[[Any], str] | None
) -> SummaryGenerator[Any]:
    """Wraps the user's summary generator: the SDK's envelope always comes first."""

    def generate(result: BatchResult[Any]) -> str:
        return summary_envelope(result, result_type, custom(result) if custom else None)

    return generate
