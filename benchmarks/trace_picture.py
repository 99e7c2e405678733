"""``python -m benchmarks.trace_picture``: draw the trace of a map over 4 CPU steps.

The execution runs on the embedded service in process mode with two workers, traced by
``durable_mp.otel`` (invocation view) into the OpenTelemetry SDK's in-memory exporter;
each step body burns CPU for about ``--seconds`` inside a span of its own. The picture is
the trace as a timeline: one row per span in tree order (indented by depth), bars on a
common time axis, worker-made spans coloured by the worker process that recorded them.
Two workers, four steps: the steps overlap two at a time. Needs the ``bench`` extra
(matplotlib) and the ``otel`` extra.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.workloads import burn, calibrate

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "trace-map-of-4-process-steps.png"
COMMAND = "python -m benchmarks.trace_picture"
WORKERS = 2


def crunch(iterations: int, index: int) -> Any:
    """A step body: CPU work inside a span user code makes (in the worker)."""

    def body(step: Any) -> int:
        from opentelemetry import trace

        with trace.get_tracer("example.crunch").start_as_current_span(
            f"crunch {index}", attributes={"iterations": iterations}
        ):
            return burn(iterations)

    return body


def traced_run(seconds: float) -> tuple[list[ReadableSpan], int]:
    """Run the map, return its finished spans and the parent's pid."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from durable_mp import durable_execution
    from durable_mp.local import LocalRunner, LocalService
    from durable_mp.otel import InvocationOtelPluginFactory, OtelPluginConfig

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "trace-picture"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    iterations = calibrate(seconds)
    otel = InvocationOtelPluginFactory(OtelPluginConfig(tracer_provider=provider))

    @durable_execution(plugins=[otel], step_executor="process", workers=WORKERS)
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.map(
            list(range(4)),
            lambda c, item, index, items: c.step(crunch(iterations, index), name=f"step {index}"),
            name="map of 4 CPU steps",
        ).get_results()

    service = LocalService(None)
    try:
        runner = LocalRunner(service, {"picture": handler})
        warm = runner.start("picture", "{}")  # workers started, modules imported
        runner.drive(warm)
        exporter.clear()
        arn = runner.start("picture", "{}")
        record = runner.drive(arn)
        if record.status != "SUCCEEDED":
            raise RuntimeError(f"the traced execution ended {record.status}: {record.error}")
    finally:
        service.close()
    return list(exporter.get_finished_spans()), os.getpid()


@dataclass(frozen=True)
class Row:
    span: ReadableSpan
    depth: int


def tree_rows(spans: list[ReadableSpan]) -> list[Row]:
    """Depth-first, children by start time."""
    ids = {span.context.span_id for span in spans}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)
    rows: list[Row] = []

    def visit(parent: int | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: (s.start_time or 0)):
            rows.append(Row(span, depth))
            visit(span.context.span_id, depth + 1)

    visit(None, 0)
    return rows


def draw(spans: list[ReadableSpan], parent_pid: int, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = [row for row in tree_rows(spans) if row.span.name != "Workflow"]
    origin = min(row.span.start_time or 0 for row in rows)
    pids = sorted(
        {
            int(row.span.attributes["durable_mp.worker.pid"])
            for row in rows
            if "durable_mp.worker.pid" in (row.span.attributes or {})
        }
    )
    palette = ["#d95f02", "#1b9e77", "#7570b3", "#e7298a"]
    worker_colour = {pid: palette[i % len(palette)] for i, pid in enumerate(pids)}
    figure, axes = plt.subplots(figsize=(11, 0.3 * len(rows) + 1.8))
    for index, row in enumerate(rows):
        span = row.span
        start = ((span.start_time or 0) - origin) / 1e9
        width = max(((span.end_time or 0) - (span.start_time or 0)) / 1e9, 0.002)
        pid = (span.attributes or {}).get("durable_mp.worker.pid")
        colour = worker_colour.get(int(pid), "#999999") if pid is not None else "#8da0cb"
        axes.barh(index, width, left=start, height=0.6, color=colour, edgecolor="black", lw=0.4)
        axes.text(
            -0.36 + 0.025 * row.depth,
            index,
            span.name,
            ha="left",
            va="center",
            fontsize=8,
            transform=axes.get_yaxis_transform(),
        )
    axes.set_yticks([])
    axes.invert_yaxis()
    axes.set_xlabel("seconds since the invocation started")
    axes.set_title(
        "durable_mp.otel, invocation view: a map of 4 CPU steps in process mode, "
        f"{len(pids)} workers (parent pid {parent_pid})",
        fontsize=10,
    )
    legend = [Patch(color="#8da0cb", label="durable operations (parent process)")] + [
        Patch(color=colour, label=f"ran in worker pid {pid}: the attempt, and the span it made")
        for pid, colour in worker_colour.items()
    ]
    axes.legend(
        handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, fontsize=8
    )
    figure.subplots_adjust(left=0.3, right=0.98, top=0.93, bottom=0.25)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--seconds", type=float, default=0.4, help="CPU time per step")
    args = parser.parse_args(argv)
    spans, parent_pid = traced_run(args.seconds)
    draw(spans, parent_pid, args.output)
    print(f"wrote {args.output} ({len(spans)} spans)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
