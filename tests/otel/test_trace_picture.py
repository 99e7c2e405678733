"""The README's trace picture can be regenerated: the generator runs (quickly, to a temp
file) and draws from a real trace, the four CPU steps' spans recorded by worker
processes."""

from __future__ import annotations

import pytest
from benchmarks import trace_picture

pytestmark = pytest.mark.timeout(180)


def test_the_trace_picture_generator_draws_a_real_process_mode_trace(tmp_path):
    spans, parent_pid = trace_picture.traced_run(seconds=0.01)
    crunches = [span for span in spans if span.name.startswith("crunch ")]
    assert len(crunches) == 4
    worker_pids = {span.attributes["durable_mp.worker.pid"] for span in crunches}
    assert parent_pid not in worker_pids and 1 <= len(worker_pids) <= trace_picture.WORKERS
    rows = trace_picture.tree_rows(spans)
    assert rows[0].span.name == "Workflow" and rows[0].depth == 0
    assert {row.depth for row in rows if row.span.name.startswith("crunch ")} == {6}
    output = tmp_path / "trace.png"
    trace_picture.draw(spans, parent_pid, output)
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
