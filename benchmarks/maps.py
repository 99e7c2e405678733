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
    sizes: list[int] = settings.pick([1_000, 10_000, 50_000], [1_000, 5_000], [100])
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
    times = ScenarioResult(
        key="map_scale_time",
        title="10a. Maps that scale: time per item (map of trivial steps) vs per sequential step",
        unit="ms/item",
        higher_is_better=False,
        rows=[Row(key, samples) for key, samples in per_item.items()],
        parameters={"sizes": sizes},
    )
    memory = ScenarioResult(
        key="map_scale_memory",
        title="10b. Maps that scale: peak RSS of the parent process (VmHWM)",
        unit="MB",
        higher_is_better=False,
        rows=[Row(key, samples) for key, samples in peak.items()],
        parameters={"sizes": sizes},
    )
    replays = ScenarioResult(
        key="map_scale_replay",
        title="10c. Replaying a finished map (every branch completed), as % of its first run",
        unit="%",
        higher_is_better=False,
        rows=[Row(key, samples) for key, samples in replay.items()],
        parameters={"sizes": sizes},
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
