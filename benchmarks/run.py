"""Run the benchmark suite: ``python -m benchmarks [--quick] [--only 1,2,...]``.

Scenarios (the numbers of issue 6):

1. CPU fan-out: ``ctx.map`` / ``ctx.step_async`` over 8 items of ~0.25 s pure Python
2. per-step overhead: 300 trivial sequential steps
3. checkpoint latency: 60 sequential steps, 20 ms added to every checkpoint call
4. worker dispatch round trip of the process pool
5. cold start: fresh interpreter to the first step's result
6. large results (1, 10, 50 MB) through the pipe and the checkpoint path
7. scaling of the CPU fan-out with 1, 2 (and all usable) workers
8. memory: peak RSS of the parent and the workers during scenario 1
9. per-step overhead of scenario 2 on the in-memory store, SQLite in memory, a SQLite file
10. maps that scale: ``ctx.map`` over 1,000 to 50,000 trivial items (time, peak RSS, replay)

Contenders: durable-mp in process and thread mode (on the in-memory embedded service)
and the official SDK (on its testing library's in-memory service), in this process,
alternating run by run. Writes ``benchmarks/results/latest.json`` and
``benchmarks/results/latest.png`` and prints a table of medians, spreads and ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import dispatch, fanout, fresh, maps, overhead, payloads, report, stores
from benchmarks.common import ScenarioResult, Settings
from benchmarks.contenders import official_available

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parents[1]

Scenario = Callable[[Settings], list[ScenarioResult]]
SCENARIOS: dict[int, tuple[str, Scenario]] = {
    1: ("CPU fan-out", fanout.fanout),
    2: ("per-step overhead", overhead.per_step),
    3: ("checkpoint latency", overhead.checkpoint_latency),
    4: ("worker dispatch round trip", dispatch.dispatch),
    5: ("cold start", fresh.cold_start),
    6: ("large results", payloads.large_results),
    7: ("scaling", fanout.scaling),
    8: ("memory", fresh.memory),
    9: ("per-step overhead by store", stores.stores),
    10: ("maps that scale", maps.scale),
}


def _selection(text: str | None) -> list[int]:
    if not text:
        return list(SCENARIOS)
    chosen = sorted({int(part) for part in text.split(",") if part.strip()})
    unknown = [number for number in chosen if number not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    return chosen


def run(
    scenarios: list[int],
    settings: Settings,
    *,
    output: Path | None,
    chart_path: Path | None,
    progress: bool = True,
) -> dict[str, object]:
    """Run ``scenarios``; return the ``latest.json`` document (also written to ``output``)."""
    results: list[ScenarioResult] = []
    started = time.perf_counter()
    for number in scenarios:
        name, scenario = SCENARIOS[number]
        if progress:
            print(
                f"[{time.perf_counter() - started:6.1f} s] scenario {number}: {name} ...",
                file=sys.stderr,
                flush=True,
            )
        results.extend(scenario(settings))
    meta = {
        "date": report.now(),
        "commit": report.commit(ROOT),
        "machine": report.machine(),
        "versions": report.versions(),
        "quick": settings.quick,
        "repeats": settings.repeats,
        "official_sdk": settings.official and official_available(),
        "scenarios_run": scenarios,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    data = report.document(results, meta)
    if output is not None:
        report.write_json(data, output)
    if chart_path is not None:
        report.chart(data, chart_path)
    if progress:
        print(report.table(results))
        machine = meta["machine"]
        print(
            f"\n{meta['date']}, {machine['cpu']}, {machine['usable_cpus']} usable CPUs, "
            f"Python {machine['python']}, load average {machine['load_average']}; "
            f"{meta['duration_s']} s"
        )
        if output is not None:
            print(f"results: {output}" + (f", chart: {chart_path}" if chart_path else ""))
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smaller workloads, fewer repeats")
    parser.add_argument("--only", help="comma-separated scenario numbers (default: all)")
    parser.add_argument(
        "--repeats", type=int, help="timed runs per contender (default: per scenario)"
    )
    parser.add_argument("--no-official", action="store_true", help="leave the official SDK out")
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the JSON (default: results/latest.json for a full run, "
        "results/partial.json with --quick, --only or --no-official)",
    )
    parser.add_argument("--chart", type=Path, help="the PNG beside --output (same defaults)")
    parser.add_argument("--no-chart", action="store_true")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print the README table of an existing --output file and exit",
    )
    args = parser.parse_args(argv)
    # A partial run must not overwrite the full results the README quotes.
    partial = args.quick or args.only or args.no_official
    stem = "partial" if partial and not args.markdown else "latest"
    args.output = args.output or RESULTS / f"{stem}.json"
    args.chart = args.chart or args.output.with_suffix(".png")
    if args.markdown:
        import json

        print(report.markdown(json.loads(args.output.read_text())))
        return
    settings = Settings(quick=args.quick, repeats=args.repeats, official=not args.no_official)
    if settings.official and not official_available():
        print(
            "the official SDK is not installed (pip install '.[bench]'): leaving it out",
            file=sys.stderr,
        )
    run(
        _selection(args.only),
        settings,
        output=args.output,
        chart_path=None if args.no_chart else args.chart,
    )


if __name__ == "__main__":
    main()
