"""The campaign's command with its store on a disk that fills up, then grows.

Run as ``unshare -m --propagation private python -m tests.faults.full_disk WORKDIR KB``
(root, a private mount namespace): a ``KB`` kilobyte tmpfs is mounted for the store only
(the marker file and the callback id stay outside it); the identical command runs until
it stops on the full disk, the tmpfs grows to 64 MB, and the command runs again until it
finishes. Prints the judgement as one JSON object (:func:`run`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.faults import campaign

FULL_LINE = "database or disk is full"


def run(workdir: Path, kilobytes: int, seed: int = 21) -> dict[str, Any]:
    disk = workdir / "disk"
    disk.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(disk)],
                   check=True)
    started = time.monotonic()
    rig = campaign.Rig.make(seed, workdir, store=disk / "runs.db")
    report = campaign.SeedReport(seed)
    completer = campaign.CallbackCompleter(rig)
    completer.start()
    stops: list[dict[str, Any]] = []
    output = None
    try:
        for number in range(6):
            if number:
                subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
                stops[-1]["integrity"] = campaign._integrity(rig.store, f"after run {number}")
            done = campaign.history.succeeded_steps(campaign._history(rig.store) or [])
            if number:
                stops[-1]["steps_done"] = sorted(done)
            one = campaign.Run(number, None, done_before=done)
            report.runs.append(one)
            output, _ = campaign._one_run(rig, one, None)
            if output is not None:
                break
            lines = one.stderr.strip().splitlines()
            stops.append({
                "exit": one.exit_code,
                "last_line": lines[-1] if lines else "",
                "traceback": _tracebacks(one.stderr) > 0,
            })
    finally:
        completer.stop()
        report.survivors_at_end = campaign.processes.survivors(rig.tag)
        campaign.processes.kill_all(rig.tag)
    campaign._judge_end(report, rig, output, completer)
    report.seconds = time.monotonic() - started
    return {
        "ok": report.ok,
        "summary": report.summary(),
        "runs": len(report.runs),
        "stops": stops,
        "full": bool(stops) and FULL_LINE in stops[0]["last_line"],
    }


def _tracebacks(stderr: str) -> int:
    """Tracebacks other than the ones the workflow's failing first attempt logs."""
    logged = stderr.splitlines().count("ConnectionError: flaky: the first attempt fails")
    return stderr.count("Traceback (most recent call last)") - logged


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]), int(sys.argv[2]))))
