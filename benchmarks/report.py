"""The run's outputs: the printed table, ``latest.json`` and the PNG chart."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks.common import ScenarioResult


def machine() -> dict[str, Any]:
    from durable_mp.workers import usable_cpu_count

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gb = None
    try:
        import psutil

        memory_gb = round(psutil.virtual_memory().total / 1024**3, 1)
    except Exception:
        pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cpu_count(),
        "memory_gb": memory_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in (
        "durable-mp",
        "aws-durable-execution-sdk-python",
        "aws-durable-execution-sdk-python-testing",
        "loky",
        "cloudpickle",
    ):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            check=False,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def document(results: list[ScenarioResult], meta: dict[str, Any]) -> dict[str, Any]:
    return {"meta": meta, "scenarios": [result.to_dict() for result in results]}


def write_json(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def table(results: list[ScenarioResult]) -> str:
    """Every scenario: contender, median, spread (min-max), ratio to the baseline, then
    the targets."""
    lines: list[str] = []
    for result in results:
        lines.append("")
        lines.append(result.title)
        ratio_head = f"x better than {result.baseline}" if result.baseline else "x better than"
        lines.append(f"  {'contender':<44} {'median':>10} {'min - max':>19}  {ratio_head}")
        for row in result.rows:
            summary = row.summary()
            spread = f"{_number(summary['min'])} - {_number(summary['max'])}"
            ratio = result.ratio(row.contender)
            ratio_text = f"{ratio:.2f}x" if ratio is not None else ""
            versus = result.compared_with(row.contender)
            if versus is not None and versus != result.baseline:
                ratio_text += f" ({versus})"
            median = f"{_number(summary['median'])} {result.unit}"
            line = f"  {row.contender:<44} {median:>10} {spread:>19}  {ratio_text:>6}"
            if row.note:
                line += f"   {row.note}"
            lines.append(line.rstrip())
        for target in result.targets:
            comparison = ">=" if target.at_least else "<="
            verdict = "met" if target.met else "NOT MET"
            unit = "x" if " vs " in target.subject else f" {result.unit}"
            lines.append(
                f"  target: {target.label} {_number(target.value)}{unit} "
                f"(goal {comparison} {_number(target.goal)}{unit}): {verdict}"
            )
        for note in result.notes:
            lines.append(f"  note: {note}")
    return "\n".join(lines)


def markdown(data: dict[str, Any]) -> str:
    """The README's results table, from ``latest.json``."""
    out = [
        "| scenario | contender | median | min - max | ratio (x better than) | note |",
        "|---|---|---|---|---|---|",
    ]
    for scenario in data["scenarios"]:
        title = scenario["title"]
        for row in scenario["rows"]:
            ratio = row["ratio"]
            versus = "" if ratio is None else f"{ratio:.2f}x ({row['ratio_vs']})"
            out.append(
                f"| {title} | {row['contender']} | {_number(row['median'])} {scenario['unit']} | "
                f"{_number(row['min'])} - {_number(row['max'])} | {versus} | {row['note']} |"
            )
            title = ""
    return "\n".join(out)


def chart(data: dict[str, Any], path: Path) -> bool:
    """One bar chart per scenario (median, with min-max whiskers); False without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install '.[bench]'): no chart", file=sys.stderr)
        return False
    scenarios = data["scenarios"]
    columns = 2
    rows = (len(scenarios) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(15, 3.4 * rows), squeeze=False)
    for axis, scenario in zip(axes.flat, scenarios, strict=False):
        names = [row["contender"] for row in scenario["rows"]]
        medians = [row["median"] for row in scenario["rows"]]
        lower = [row["median"] - row["min"] for row in scenario["rows"]]
        upper = [row["max"] - row["median"] for row in scenario["rows"]]
        colors = [_color(name) for name in names]
        positions = range(len(names))
        axis.barh(positions, medians, xerr=[lower, upper], color=colors, capsize=3)
        axis.set_yticks(list(positions), names, fontsize=7)
        axis.invert_yaxis()
        better = "higher is better" if scenario["higher_is_better"] else "lower is better"
        axis.set_xlabel(f"{scenario['unit']} ({better})", fontsize=8)
        axis.set_title(scenario["title"], fontsize=8.5, loc="left")
        axis.tick_params(axis="x", labelsize=7)
        for target in scenario["targets"]:
            if " vs " not in target["subject"]:
                axis.axvline(target["goal"], color="#444", linestyle=":", linewidth=1)
        for position, median in zip(positions, medians, strict=True):
            axis.text(median, position, f" {_number(median)}", va="center", fontsize=7)
    for axis in list(axes.flat)[len(scenarios) :]:
        axis.axis("off")
    meta = data["meta"]
    figure.suptitle(
        f"durable-mp benchmarks, {meta['date']} - {meta['machine']['cpu']}, "
        f"{meta['machine']['usable_cpus']} usable CPUs, Python {meta['machine']['python']}"
        " (bars: median; whiskers: min-max; dotted: target)",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _color(name: str) -> str:
    if "official" in name:
        return "#d62728"
    if "durable-mp inline" in name:
        return "#bcbd22"
    if "thread" in name:
        return "#ff7f0e"
    if "process" in name:
        return "#1f77b4"
    if "serial" in name:
        return "#7f7f7f"
    return "#9467bd"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
