"""Scenario 10 (maps that scale): ``ctx.map`` over 1,000 to 50,000 trivial items.

Each run is a fresh interpreter (``python -m benchmarks.child scale ...``), so its peak
RSS is the run's own. For every size, durable-mp's map (process mode), the same number of
sequential trivial steps (the per-step cost the map item is compared with, in the same
run) and, up to 5,000 items, the official SDK's map. A durable-mp run also replays the
finished execution once (every branch completed: nothing should run again).
"""

from __future__ import annotations

from benchmarks.common import OFFICIAL, PROCESS, Row, ScenarioResult, Settings, Target
from benchmarks.contenders import official_available
from benchmarks.fresh import _child, _finish

OFFICIAL_LIMIT = 5_000  # the official SDK's map grows quadratically past this


def scale(settings: Settings) -> list[ScenarioResult]:
    sizes: list[int] = settings.pick([1_000, 5_000, 10_000, 50_000], [1_000, 5_000], [100])
    official = settings.official and official_available()
    per_item: dict[str, list[float]] = {}
    peak: dict[str, list[float]] = {}
    replay: dict[str, list[float]] = {}
    for items in sizes:
        runs = [("process", "map", f"{PROCESS} map"), ("process", "steps", f"{PROCESS} steps")]
        if official and items <= OFFICIAL_LIMIT:
            runs.append(("official", "map", f"{OFFICIAL} map"))
        for mode, kind, label in runs:
            data = _finish(_child("scale", mode, kind, str(items)))
            key = f"{label}, {items:,}"
            per_item[key] = [1000 * float(data["seconds"]) / items]  # type: ignore[arg-type]
            peak[key] = [float(data["parent_mb"])]  # type: ignore[arg-type]
            if "replay_s" in data and kind == "map":
                replay[f"{PROCESS} map, {items:,}"] = [
                    100 * float(data["replay_s"]) / float(data["seconds"])  # type: ignore[arg-type]
                ]
    def result(key: str, title: str, unit: str, rows: dict[str, list[float]]) -> ScenarioResult:
        return ScenarioResult(
            key=key,
            title=title,
            unit=unit,
            higher_is_better=False,
            rows=[Row(name, samples) for name, samples in rows.items()],
            parameters={"sizes": sizes},
        )

    times = result(
        "map_scale_time",
        "10a. Maps that scale: time per item (map of trivial steps) vs per sequential step",
        "ms/item",
        per_item,
    )
    memory = result(
        "map_scale_memory", "10b. Maps that scale: peak RSS of the parent process (VmHWM)", "MB", peak
    )
    replays = result(
        "map_scale_replay",
        "10c. Replaying a finished map (every branch completed), as % of its first run",
        "%",
        replay,
    )
    reference = 10_000 if 10_000 in sizes else sizes[-1]
    map_key, steps_key = f"{PROCESS} map, {reference:,}", f"{PROCESS} steps, {reference:,}"
    times.targets.append(
        Target(
            f"map item vs sequential step at {reference:,} (x)",
            f"{map_key} vs {steps_key}",
            1.5,
            False,
            times.median(map_key) / times.median(steps_key),
        )
    )
    if len(sizes) > 1:
        first, last = f"{PROCESS} map, {sizes[0]:,}", f"{PROCESS} map, {sizes[-1]:,}"
        times.targets.append(
            Target(
                f"growth of the time per item from {sizes[0]:,} to {sizes[-1]:,} (x, 1 = linear)",
                f"{last} vs {first}",
                1.5,
                False,
                times.median(last) / times.median(first),
            )
        )
    memory.targets.append(
        Target(f"peak RSS at {reference:,} items", map_key, 120.0, False, memory.median(map_key))
    )
    replays.targets.append(
        Target(f"replay at {reference:,} items", map_key, 10.0, False, replays.median(map_key))
    )
    return [times, memory, replays]
