"""examples/traced_map.py as its docstring runs it: the console exporter prints one trace
in which each step body's span sits under its attempt, recorded by a worker process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(180)


def json_objects(text: str) -> list[Any]:
    decoder, found, index = json.JSONDecoder(), [], 0
    while (start := text.find("{", index)) != -1:
        value, index = decoder.raw_decode(text, start)
        found.append(value)
    return found


def test_the_traced_map_example_prints_one_trace_down_to_the_worker_spans() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "durable_mp", "run", "examples/traced_map.py:handler",
         "--input", '{"items": 4}'],
        cwd=ROOT, capture_output=True, text=True, timeout=150,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    spans = [item for item in json_objects(done.stdout) if "context" in item]
    assert len({span["context"]["trace_id"] for span in spans}) == 1
    by_id = {span["context"]["span_id"]: span for span in spans}
    crunches = [span for span in spans if span["name"].startswith("crunch ")]
    assert len(crunches) == 4
    for span in crunches:
        attempt = by_id[span["parent_id"]]
        assert attempt["name"].endswith(" attempt 1")
        pid = span["attributes"]["durable_mp.worker.pid"]
        assert pid == attempt["attributes"]["durable_mp.worker.pid"]
    names = {span["name"] for span in spans}
    assert {"Workflow", "Invocation", "crunches"} <= names
