"""SIGKILL at random instants: one seed of the campaign, from the first run to the result.

A seed fixes the input and the plan: how many kills, when (seconds after a run starts)
and what is killed -- the ``durable-mp run`` process group (the run and its workers, as a
terminal's kill of the job does) or the runner process alone. The identical command runs
again after every kill, until a run finishes. Meanwhile another process completes the
workflow's callback with ``durable-mp callback succeed`` as soon as its id is out.

What is checked, and counted for the report (:class:`SeedReport`):

- the result is the one the input determines;
- no completed step ran again: a step body started in a run whose previous run had
  already recorded the step's success is a re-run of a completed step;
- no at-most-once attempt ran twice (an attempt is ``(step, attempt number)``);
- after each kill and at the end: which processes of the run are still alive
  (:mod:`tests.faults.processes`), and the store's ``PRAGMA integrity_check``;
- the final history is well formed (:mod:`tests.faults.history`), and so is each
  history seen after a kill (with operations legitimately open).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults import history, processes, workflow

WORKFLOW = Path(workflow.__file__)
NAME = "campaign"
KINDS = ("group", "runner")
RUN_TIMEOUT = 180.0  # seconds a run that is not killed may take


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "durable_mp", *args]


@dataclass(frozen=True)
class Kill:
    """SIGKILL ``after`` seconds after the run started -- or, with ``step``, after that
    step's body started in this run (a kill that lands where it is aimed)."""

    after: float
    kind: str  # "group" or "runner"
    step: str | None = None


def plan(seed: int, most: int = 4, within: float = 5.0) -> list[Kill]:
    """The kills of ``seed``: 1 to ``most``, each at a random instant of its run."""
    rng = random.Random(seed)
    return [
        Kill(round(rng.uniform(0.2, within), 3), rng.choice(KINDS))
        for _ in range(rng.randint(1, most))
    ]


@dataclass
class Run:
    number: int
    kill: Kill | None
    exit_code: int | None = None
    killed: bool = False  # the kill landed (the run had not ended by then)
    seconds: float = 0.0
    survivors: list[processes.Survivor] = field(default_factory=list)
    done_before: set[str] = field(default_factory=set)  # steps succeeded before it began
    markers: tuple[int, int] = (0, 0)  # its byte range of the marker file
    in_flight: list[str] = field(default_factory=list)  # bodies running when killed
    stderr_tail: str = ""


@dataclass
class SeedReport:
    seed: int
    runs: list[Run] = field(default_factory=list)
    result_ok: bool = False
    result: Any = None
    starts: int = 0  # step bodies started, all runs together
    attempts: int = 0  # distinct (step, attempt) pairs started
    reran_in_flight: int = 0  # bodies started again after a kill interrupted them
    reran_completed: list[str] = field(default_factory=list)  # must stay empty
    at_most_once_twice: list[str] = field(default_factory=list)  # must stay empty
    survivors_at_end: list[processes.Survivor] = field(default_factory=list)
    integrity: list[str] = field(default_factory=list)  # anything but "ok"
    history_problems: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # unexpected exits, timeouts
    seconds: float = 0.0

    @property
    def kills(self) -> list[Run]:
        return [run for run in self.runs if run.killed]

    @property
    def survivors_after_kills(self) -> list[processes.Survivor]:
        return [survivor for run in self.runs for survivor in run.survivors]

    @property
    def ok(self) -> bool:
        return (
            self.result_ok
            and not self.reran_completed
            and not self.at_most_once_twice
            and not self.survivors_at_end
            and not self.integrity
            and not self.history_problems
            and not self.failures
        )

    def summary(self) -> str:
        return (
            f"seed {self.seed}: {'ok' if self.ok else 'FAILED'}, {len(self.kills)} kills "
            f"({', '.join(r.kill.kind for r in self.kills if r.kill)}), {len(self.runs)} runs, "
            f"{self.reran_in_flight} in-flight re-runs, survivors after kills "
            f"{len(self.survivors_after_kills)}, at end {len(self.survivors_at_end)}, "
            f"{self.seconds:.1f} s"
            + "".join(
                f"\n  {problem}"
                for problem in [
                    *self.failures,
                    *self.reran_completed,
                    *self.at_most_once_twice,
                    *self.integrity,
                    *self.history_problems,
                    *(f"left running: {s}" for s in self.survivors_at_end),
                ]
            )
        )


class CallbackCompleter(threading.Thread):
    """The outside world: completes the callback with ``durable-mp callback succeed`` from
    another process once the workflow has handed its id out (after a random delay)."""

    def __init__(self, callback_file: Path, store: Path, env: dict[str, str], seed: int):
        super().__init__(name="callback-completer", daemon=True)
        self._file, self._store, self._env = callback_file, store, env
        self._rng = random.Random(seed * 7919)
        self._halt = threading.Event()
        self.sent = 0
        self.errors: list[str] = []

    def run(self) -> None:
        while not self._halt.wait(0.05):
            if not self._file.exists():
                continue
            if self._halt.wait(self._rng.uniform(0.0, 1.0)):
                return
            callback_id = self._file.read_text().strip()
            done = subprocess.run(
                cli("callback", "succeed", callback_id, "--result", workflow.APPROVAL,
                    "--store", str(self._store)),
                env=self._env, capture_output=True, text=True, timeout=60,
            )
            self.sent += 1
            if done.returncode == 0:
                return
            self.errors.append(done.stderr.strip())
            if self.sent >= 20:
                return

    def stop(self) -> None:
        self._halt.set()
        self.join(70)


def run_seed(seed: int, workdir: Path, kills: list[Kill] | None = None,
             workers: int = 2) -> SeedReport:
    """Run the campaign for ``seed`` in ``workdir`` (a fresh directory)."""
    started = time.monotonic()
    report = SeedReport(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    store, markers = workdir / "runs.db", workdir / "markers.log"
    callback_file = workdir / "callback-id"
    tag = processes.new_tag()
    base_env = {
        **os.environ,
        workflow.MARKERS_ENV: str(markers),
        workflow.CALLBACK_FILE_ENV: str(callback_file),
    }
    run_env = {**base_env, processes.TAG_ENV: tag}
    event = {"seed": seed}
    command = cli("run", f"{WORKFLOW}:handler", "--input", json.dumps(event), "--store",
                  str(store), "--name", NAME, "--workers", str(workers), "--json")
    completer = CallbackCompleter(callback_file, store, base_env, seed)
    completer.start()
    done_steps: set[str] = set()
    output = None
    try:
        for number, kill in enumerate([*(kills if kills is not None else plan(seed)), None]):
            run = Run(number, kill, done_before=set(done_steps))
            report.runs.append(run)
            output = _one_run(run, command, run_env, workdir, markers)
            if output is not None or kill is None:
                break
            if not run.killed:  # it ended before its kill: it must not have failed
                report.failures.append(
                    f"run {number} exited with {run.exit_code} and no result before its "
                    f"kill: {run.stderr_tail}"
                )
                continue
            run.survivors = processes.survivors(tag)
            report.integrity += _integrity(store, f"after kill {len(report.kills)}")
            events = _history(store)
            if events is None:
                report.failures.append(f"durable-mp history failed after kill {len(report.kills)}")
            elif events:
                report.history_problems += [
                    f"after kill {len(report.kills)}: {p}"
                    for p in history.problems(events, ended=False)
                ]
                done_steps = history.succeeded_steps(events)
        if output is None:
            last = report.runs[-1]
            report.failures.append(
                f"run {last.number} ended with exit code {last.exit_code} and no result: "
                f"{last.stderr_tail}"
            )
    finally:
        completer.stop()
        report.survivors_at_end = processes.survivors(tag)
        processes.kill_all(tag)
    if output is not None:
        report.result = output.get("Result")
        expected = workflow.expected_result(event)
        report.result_ok = (
            output.get("Status") == "SUCCEEDED"
            and json.loads(report.result or "null") == expected
        )
        if not report.result_ok:
            report.failures.append(f"wrong result {output}; expected {expected}")
        events = _history(store)
        if events is None:
            report.failures.append("durable-mp history failed at the end")
        else:
            report.history_problems += history.problems(events, ended=True)
    report.integrity += _integrity(store, "at the end")
    _judge_markers(report, markers)
    if completer.errors and output is None:
        report.failures += [f"callback succeed: {e}" for e in completer.errors]
    report.seconds = time.monotonic() - started
    return report


def _one_run(run: Run, command: list[str], env: dict[str, str], workdir: Path,
             markers: Path) -> dict[str, Any] | None:
    """Start the run, kill it as planned; its ``--json`` output if it finished."""
    begin = markers.stat().st_size if markers.exists() else 0
    out_path = workdir / f"run{run.number}.out"
    err_path = workdir / f"run{run.number}.err"
    started = time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        kill_at = _kill_instant(run.kill, started, markers, begin, process)
        hung = False
        if kill_at is not None:  # None: it ended first, or never got there
            try:
                process.wait(max(0.0, kill_at - time.monotonic()))
            except subprocess.TimeoutExpired:
                if run.kill is not None and run.kill.kind == "runner":
                    os.kill(process.pid, signal.SIGKILL)
                else:
                    os.killpg(process.pid, signal.SIGKILL)
                run.killed, hung = run.kill is not None, run.kill is None
        process.wait()
    run.exit_code = process.returncode
    run.seconds = time.monotonic() - started
    run.markers = (begin, markers.stat().st_size if markers.exists() else 0)
    run.stderr_tail = err_path.read_text()[-2000:]
    if hung:
        run.stderr_tail += f"\n(still running after {RUN_TIMEOUT:.0f} s: killed)"
    if run.killed:
        run.in_flight = _running_bodies(markers, *run.markers)
    if run.killed or process.returncode != 0:
        return None
    lines = out_path.read_text().strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def _kill_instant(kill: Kill | None, started: float, markers: Path, begin: int,
                  process: subprocess.Popen[bytes]) -> float | None:
    """When to kill (monotonic time); None if the run ended before that was known."""
    if kill is None:
        return started + RUN_TIMEOUT  # a run that hangs is killed and reported
    if kill.step is None:
        return started + kill.after
    wanted = f'"step": "{kill.step}"'.encode()
    while process.poll() is None and time.monotonic() < started + RUN_TIMEOUT:
        if markers.exists():
            with open(markers, "rb") as source:
                source.seek(begin)
                if any(wanted in line and b'"start"' in line for line in source):
                    return time.monotonic() + kill.after
        time.sleep(0.01)
    return None


def _running_bodies(markers: Path, begin: int, end: int) -> list[str]:
    """Step bodies that started in ``markers[begin:end]`` and did not end there."""
    running: Counter[str] = Counter()
    if end <= begin:
        return []
    with open(markers, "rb") as source:
        source.seek(begin)
        for line in source.read(end - begin).decode().splitlines():
            mark = json.loads(line)
            running[mark["step"]] += 1 if mark["phase"] == "start" else -1
    return sorted(step for step, count in running.items() if count > 0)


def _history(store: Path) -> list[dict[str, Any]] | None:
    if not store.exists():
        return []
    shown = subprocess.run(cli("history", NAME, "--store", str(store), "--json"),
                           capture_output=True, text=True, timeout=60)
    if shown.returncode != 0:
        if f"no execution named '{NAME}'" in shown.stderr or "no such store" in shown.stderr:
            return []  # killed before it created the execution
        return None
    events: list[dict[str, Any]] = json.loads(shown.stdout)
    return events


def _integrity(store: Path, when: str) -> list[str]:
    if not store.exists():
        return []
    with sqlite3.connect(store) as db:
        verdict = [row[0] for row in db.execute("PRAGMA integrity_check")]
    return [] if verdict == ["ok"] else [f"integrity {when}: {verdict}"]


def _judge_markers(report: SeedReport, markers: Path) -> None:
    data = markers.read_bytes() if markers.exists() else b""
    starts: Counter[tuple[str, int]] = Counter()
    for run in report.runs:
        begin, end = run.markers
        for line in data[begin:end].decode().splitlines():
            mark = json.loads(line)
            if mark["phase"] != "start":
                continue
            key = (mark["step"], mark["attempt"])
            starts[key] += 1
            report.starts += 1
            if mark["step"] in run.done_before:
                report.reran_completed.append(
                    f"step {mark['step']!r} (attempt {mark['attempt']}) ran again in run "
                    f"{run.number} after its success was recorded"
                )
    report.attempts = len(starts)
    report.reran_in_flight = sum(count - 1 for count in starts.values())
    for (step, attempt), count in sorted(starts.items()):
        if step in workflow.AT_MOST_ONCE_STEPS and count > 1:
            report.at_most_once_twice.append(
                f"at-most-once step {step!r} attempt {attempt} ran {count} times"
            )
