"""What every scenario shares: settings, samples and their summary, targets, results."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

PROCESS = "durable-mp process"
THREAD = "durable-mp thread"
INLINE = "durable-mp inline"
PIPELINED = "durable-mp process, pipelined"
OFFICIAL = "official SDK"
SERIAL = "serial (no SDK)"


@dataclass(frozen=True)
class Settings:
    """How hard to run: ``quick`` shrinks workloads and repeats; ``smoke`` shrinks them
    to what the test suite's smoke run can afford (it checks the code, not the numbers)."""

    quick: bool = False
    repeats: int | None = None  # None: each scenario's default
    official: bool = True  # include the official SDK where it applies
    smoke: bool = False

    def rounds(self, full: int, quick: int, smoke: int | None = None) -> int:
        if self.repeats is not None:
            return self.repeats
        return self.pick(full, quick, smoke)

    def pick(self, full: Any, quick: Any, smoke: Any = None) -> Any:
        if self.smoke:
            return quick if smoke is None else smoke
        return quick if self.quick else full


@dataclass
class Row:
    """One contender's samples in one scenario (all in the scenario's unit)."""

    contender: str
    samples: list[float] = field(default_factory=list)
    note: str = ""
    versus: str | None = None  # the row its ratio compares with (default: the baseline)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.samples)
        n = len(ordered)
        q1, q3 = (
            (ordered[0], ordered[-1])
            if n < 4
            else tuple(statistics.quantiles(ordered, n=4, method="inclusive")[i] for i in (0, 2))
        )
        return {
            "contender": self.contender,
            "median": self.median,
            "min": ordered[0],
            "max": ordered[-1],
            "q1": q1,
            "q3": q3,
            "n": n,
            "samples": list(self.samples),
            "note": self.note,
        }


@dataclass(frozen=True)
class Target:
    """A goal from issue 6: ``value`` of ``subject`` must be at least / at most ``goal``."""

    label: str
    subject: str  # the row it is about, or "<row> vs <row>" for a ratio
    goal: float
    at_least: bool  # True: value >= goal; False: value <= goal
    value: float

    @property
    def met(self) -> bool:
        return self.value >= self.goal if self.at_least else self.value <= self.goal

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "subject": self.subject,
            "goal": self.goal,
            "comparison": ">=" if self.at_least else "<=",
            "value": self.value,
            "met": self.met,
        }


@dataclass
class ScenarioResult:
    """One scenario's (or sub-scenario's) rows, ratios and targets."""

    key: str
    title: str
    unit: str
    higher_is_better: bool
    rows: list[Row]
    baseline: str | None = None  # ratios are "times better than the baseline"
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)

    def has(self, contender: str) -> bool:
        return any(row.contender == contender for row in self.rows)

    def row(self, contender: str) -> Row:
        for row in self.rows:
            if row.contender == contender:
                return row
        raise KeyError(f"{self.key}: no row for {contender!r}")

    def median(self, contender: str) -> float:
        return self.row(contender).median

    def advantage(self, better: str, than: str) -> float:
        """How many times better ``better`` is than ``than`` (>1: better)."""
        a, b = self.median(better), self.median(than)
        return a / b if self.higher_is_better else b / a

    def compared_with(self, contender: str) -> str | None:
        """The row ``contender``'s ratio is against: its own ``versus``, else the baseline."""
        other = self.row(contender).versus or self.baseline
        return other if other is not None and self.has(other) else None

    def ratio(self, contender: str) -> float | None:
        """How many times better ``contender`` is than the row it is compared with."""
        other = self.compared_with(contender)
        return None if other is None else self.advantage(contender, other)

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for row in self.rows:
            summary = row.summary()
            summary["ratio"] = self.ratio(row.contender)
            summary["ratio_vs"] = self.compared_with(row.contender)
            rows.append(summary)
        return {
            "key": self.key,
            "title": self.title,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "baseline": self.baseline,
            "rows": rows,
            "targets": [target.to_dict() for target in self.targets],
            "notes": list(self.notes),
            "parameters": dict(self.parameters),
        }


def interleave(
    contenders: Sequence[str],
    rounds: int,
    run: Callable[[str], float],
    *,
    warmup: bool = True,
) -> dict[str, list[float]]:
    """Run every contender ``rounds`` times, alternating (the order rotates each round),
    after one untimed warm-up each; returns the samples per contender."""
    if warmup:
        for contender in contenders:
            run(contender)
    samples: dict[str, list[float]] = {contender: [] for contender in contenders}
    order = list(contenders)
    for _ in range(rounds):
        for contender in order:
            samples[contender].append(run(contender))
        order = order[1:] + order[:1]
    return samples


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = work()
    return time.perf_counter() - started, value
