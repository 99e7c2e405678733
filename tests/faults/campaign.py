"""One seed of the local campaign: ``durable-mp run`` stopped again and again, then the
identical command, until it finishes.

A seed fixes the input and the plan: how many stops, when (seconds after a run started,
or after a given step's body started in it) and how:

``group``    SIGKILL of the run's process group (the run and its workers, as a terminal's
             kill of the job does);
``runner``   SIGKILL of the runner process alone;
``sigint``   Ctrl-C: SIGINT to the process group, as a terminal sends it;
``sigterm``  SIGTERM to the runner.

A run may also meet a contender (:class:`Contender`): the identical command started
beside it (together, or seconds later), with or without ``--wait``. Meanwhile another
process completes the workflow's callback with ``durable-mp callback succeed`` as soon as
its id is out.

What is checked, and counted for the report (:class:`SeedReport`):

- the result is the one the input determines;
- no completed step ran again: a body started in a run whose predecessor had already
  recorded the step's success;
- no at-most-once attempt ran twice (an attempt is ``(step, attempt number)``);
- a Ctrl-C or SIGTERM ends the run with 130 or 143 and one line, no traceback;
- a contender without ``--wait`` exits 2 naming the owner (or shows the result, if the
  owner finished first); one with ``--wait`` reports the owner's outcome, or takes over;
- after each stop and at the end: which processes of the run still live
  (:mod:`tests.faults.processes`), and the store's ``PRAGMA integrity_check``;
- every history seen is well formed (:mod:`tests.faults.history`).
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
KILLS = ("group", "runner")  # SIGKILLs
STOPS = ("sigint", "sigterm")  # clean stops
# How a stopped run may end: killed by the signal (a shell shows 128 + its number), or,
# once durable-mp handles it, with that same status of its own.
EXIT_STATUS = {"group": {-signal.SIGKILL}, "runner": {-signal.SIGKILL},
               "sigint": {130, -signal.SIGINT}, "sigterm": {143, -signal.SIGTERM}}
RUN_TIMEOUT = 180.0  # seconds a run that is not stopped may take


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "durable_mp", *args]


@dataclass(frozen=True)
class Kill:
    """Stop a run ``after`` seconds after it started -- or, with ``step``, after that
    step's body started in it (a stop that lands where it is aimed)."""

    after: float
    kind: str  # one of KILLS or STOPS
    step: str | None = None


@dataclass(frozen=True)
class Contender:
    """The identical command started ``after`` seconds after a run (0: together)."""

    after: float
    wait: bool = False


# Stops aimed at the places that matter, alternating kinds (the runner alone, its group).
AIMED = [
    Kill(0.1, "runner", step="reserve"),  # at-most-once, in flight
    Kill(0.1, "group", step="crunch-1"),  # the map's items in the workers
    Kill(0.2, "runner", step="spawn"),  # the step's processes run: they are orphaned
    Kill(0.3, "group", step="spawn"),  # ... or escape the group kill in their sessions
    Kill(1.0, "group", step="spawn"),  # waiting for the callback
    Kill(0.1, "runner", step="commit"),  # at-most-once after the callback
]

# Ctrl-C seven times in a row: more than the five failed invocations that fail an execution.
SEVEN_CTRL_C = [
    Kill(0.05, "sigint", step=step)
    for step in ("prepare", "reserve", "flaky", "summary-b", "crunch-0", "spawn", "commit")
]


def plan(seed: int, most: int = 4, within: float = 5.0,
         kinds: tuple[str, ...] = KILLS) -> list[Kill]:
    """The stops of ``seed``: 1 to ``most``, each at a random instant of its run."""
    rng = random.Random(seed)
    return [
        Kill(round(rng.uniform(0.2, within), 3), rng.choice(kinds))
        for _ in range(rng.randint(1, most))
    ]


@dataclass
class Run:
    number: int
    kill: Kill | None
    files: int = 0  # the number of its output files (run<files>.out/.err)
    pid: int = 0
    exit_code: int | None = None
    killed: bool = False  # the stop landed (the run had not ended by then)
    seconds: float = 0.0
    survivors: list[processes.Survivor] = field(default_factory=list)
    done_before: set[str] = field(default_factory=set)  # steps succeeded before it began
    markers: tuple[int, int] = (0, 0)  # its byte range of the marker file
    in_flight: list[str] = field(default_factory=list)  # bodies running when stopped
    stderr: str = ""
    contender: str | None = None  # how its contender ended (see ContenderRun.outcome)


@dataclass
class SeedReport:
    seed: int
    runs: list[Run] = field(default_factory=list)
    result_ok: bool = False
    result: Any = None
    starts: int = 0  # step bodies started, all runs together
    attempts: int = 0  # distinct (step, attempt) pairs started
    reran_in_flight: int = 0  # bodies started again after a stop interrupted them
    reran_completed: list[str] = field(default_factory=list)  # must stay empty
    at_most_once_twice: list[str] = field(default_factory=list)  # must stay empty
    survivors_at_end: list[processes.Survivor] = field(default_factory=list)
    integrity: list[str] = field(default_factory=list)  # anything but "ok"
    history_problems: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # unexpected exits, timeouts
    seconds: float = 0.0

    @property
    def kills(self) -> list[Run]:
        """The runs a stop (of any kind) landed in."""
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
        kinds = ", ".join(r.kill.kind for r in self.kills if r.kill)
        contenders = [r.contender for r in self.runs if r.contender]
        return (
            f"seed {self.seed}: {'ok' if self.ok else 'FAILED'}, {len(self.kills)} stops "
            f"({kinds}), {len(self.runs)} runs, {self.reran_in_flight} in-flight re-runs, "
            + (f"contenders: {', '.join(contenders)}, " if contenders else "")
            + f"survivors after stops {len(self.survivors_after_kills)}, at end "
            f"{len(self.survivors_at_end)}, {self.seconds:.1f} s"
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


@dataclass
class Rig:
    """One seed's files, environment and the identical command every run uses."""

    seed: int
    workdir: Path
    store: Path
    markers: Path
    callback_file: Path
    tag: str
    env: dict[str, str]  # the runs' (tagged: their processes can be found)
    plain_env: dict[str, str]  # the test's own commands'
    command: list[str]
    _files: int = 0

    def next_files(self) -> int:
        """A fresh number for a process's output files."""
        self._files += 1
        return self._files

    @classmethod
    def make(cls, seed: int, workdir: Path, workers: int = 2,
             store: Path | None = None, env: dict[str, str] | None = None) -> Rig:
        workdir.mkdir(parents=True, exist_ok=True)
        store, markers = store or workdir / "runs.db", workdir / "markers.log"
        callback_file = workdir / "callback-id"
        tag = processes.new_tag()
        plain_env = {
            **os.environ,
            **(env or {}),
            workflow.MARKERS_ENV: str(markers),
            workflow.CALLBACK_FILE_ENV: str(callback_file),
        }
        command = cli("run", f"{WORKFLOW}:handler", "--input", json.dumps({"seed": seed}),
                      "--store", str(store), "--name", NAME, "--workers", str(workers),
                      "--json")
        return cls(seed, workdir, store, markers, callback_file, tag,
                   {**plain_env, processes.TAG_ENV: tag}, plain_env, command)

    def start(self, number: int, extra: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"run{number}.out", "w") as out, \
                open(self.workdir / f"run{number}.err", "w") as err:
            return subprocess.Popen([*self.command, *extra], env=self.env, stdout=out,
                                    stderr=err, stdin=subprocess.DEVNULL,
                                    start_new_session=True)

    def output(self, number: int) -> tuple[str, str]:
        return ((self.workdir / f"run{number}.out").read_text(),
                (self.workdir / f"run{number}.err").read_text())

    def markers_size(self) -> int:
        return self.markers.stat().st_size if self.markers.exists() else 0


class CallbackCompleter(threading.Thread):
    """The outside world: completes the callback with ``durable-mp callback succeed`` from
    another process once the workflow has handed its id out (after a random delay)."""

    def __init__(self, rig: Rig):
        super().__init__(name="callback-completer", daemon=True)
        self._rig = rig
        self._rng = random.Random(rig.seed * 7919)
        self._halt = threading.Event()
        self.sent = 0
        self.errors: list[str] = []

    def run(self) -> None:
        rig = self._rig
        while not self._halt.wait(0.05):
            if not rig.callback_file.exists():
                continue
            if self._halt.wait(self._rng.uniform(0.0, 1.0)):
                return
            callback_id = rig.callback_file.read_text().strip()
            done = subprocess.run(
                cli("callback", "succeed", callback_id, "--result", workflow.APPROVAL,
                    "--store", str(rig.store)),
                env=rig.plain_env, capture_output=True, text=True, timeout=60,
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


class ContenderRun:
    """A contender's process, and how it ended."""

    def __init__(self, rig: Rig, contender: Contender) -> None:
        self.rig, self.contender = rig, contender
        self.files = rig.next_files()
        self.process = rig.start(self.files, ("--wait",) if contender.wait else ())

    def outcome(self, owner_pid: int, owner_output: dict[str, Any] | None) -> str:
        """``refused``, ``reported`` (the owner's outcome), ``took-over`` (it waited, the
        owner died), ``resumed`` (the owner was gone when it looked), or what went wrong;
        the contender has ended."""
        out, err = self.rig.output(self.files)
        code = self.process.returncode
        lines = err.strip().splitlines()
        if code == 2 and not self.contender.wait:
            named = f"execution {NAME} is being run by pid {owner_pid} on "
            if len(lines) == 1 and named in lines[0] and not out:
                return "refused"
            return f"exit 2, but not the one line naming pid {owner_pid}: {err!r}"
        if code == 0:
            result = json.loads(out.strip().splitlines()[-1])
            if owner_output is not None and result != owner_output:
                return f"reported {result}, but the owner answered {owner_output}"
            if "taking it over" in err:
                return "took-over"
            return "resumed" if "resuming execution" in err else "reported"
        return f"exit {code}: {err[-500:]!r}"


def run_seed(seed: int, workdir: Path, kills: list[Kill] | None = None,
             contenders: dict[int, Contender] | None = None, workers: int = 2,
             env: dict[str, str] | None = None) -> SeedReport:
    """Run the campaign for ``seed`` in ``workdir`` (a fresh directory); ``contenders``
    by run number; ``env`` adds to the runs' environment."""
    started = time.monotonic()
    report = SeedReport(seed)
    _interruptible()
    rig = Rig.make(seed, workdir, workers, env=env)
    completer = CallbackCompleter(rig)
    completer.start()
    done_steps: set[str] = set()
    output = None
    pending: list[tuple[Run, ContenderRun]] = []  # contenders to judge once ended
    try:
        stops = [*(kills if kills is not None else plan(seed)), None]
        for kill in stops:
            run = Run(len(report.runs), kill, done_before=set(done_steps))
            report.runs.append(run)
            output, rival = _one_run(rig, run, (contenders or {}).get(run.number))
            if rival is not None:
                pending.append((run, rival))
            if rival is not None and rival.contender.wait and run.killed:
                # it took over: its run is the next one, to the end
                run = Run(len(report.runs), None, done_before=set(done_steps))
                report.runs.append(run)
                output = _adopt(rig, run, rival)
                break
            if output is not None or kill is None:
                break
            if not run.killed:  # it ended before its stop: it must not have failed
                report.failures.append(
                    f"run {run.number} exited with {run.exit_code} and no result before "
                    f"its stop: {run.stderr[-1000:]}"
                )
                continue
            _judge_stop(report, run)
            run.survivors = processes.survivors(rig.tag)
            report.integrity += _integrity(rig.store, f"after stop {len(report.kills)}")
            events = _history(rig.store)
            if events is None:
                report.failures.append(f"durable-mp history failed after stop "
                                       f"{len(report.kills)}")
            elif events:  # (it may have ended just before the stop: then nothing is open)
                report.history_problems += [
                    f"after stop {len(report.kills)}: {p}"
                    for p in history.problems(events, ended=history.ended(events))
                ]
                done_steps = history.succeeded_steps(events)
        if output is None:
            last = report.runs[-1]
            report.failures.append(
                f"run {last.number} ended with exit code {last.exit_code} and no result: "
                f"{last.stderr[-1000:]}"
            )
    finally:
        completer.stop()
        for _, rival in pending:  # each ends by itself: it was refused, or reports
            try:
                rival.process.wait(RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(rival.process.pid, signal.SIGKILL)
                rival.process.wait()
        report.survivors_at_end = processes.survivors(rig.tag)
        processes.kill_all(rig.tag)
    for run, rival in pending:
        run.contender = rival.outcome(run.pid, output)
        if run.contender not in ("refused", "reported", "took-over", "resumed"):
            report.failures.append(f"contender of run {run.number}: {run.contender}")
    _judge_end(report, rig, output, completer)
    report.seconds = time.monotonic() - started
    return report


def _interruptible() -> None:
    """The runs must get Ctrl-C as a terminal's foreground job does. A process started in
    the background by a shell without job control ignores SIGINT, and so would every run
    it starts (an ignored signal stays ignored across exec): not in this campaign."""
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) == signal.SIG_IGN):
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _judge_end(report: SeedReport, rig: Rig, output: dict[str, Any] | None,
               completer: CallbackCompleter) -> None:
    if output is not None:
        report.result = output.get("Result")
        expected = workflow.expected_result({"seed": rig.seed})
        report.result_ok = (
            output.get("Status") == "SUCCEEDED"
            and json.loads(report.result or "null") == expected
        )
        if not report.result_ok:
            report.failures.append(f"wrong result {output}; expected {expected}")
        events = _history(rig.store)
        if events is None:
            report.failures.append("durable-mp history failed at the end")
        else:
            report.history_problems += history.problems(events, ended=True)
    report.integrity += _integrity(rig.store, "at the end")
    _judge_markers(report, rig.markers)
    if completer.errors and output is None:
        report.failures += [f"callback succeed: {e}" for e in completer.errors]


def _judge_stop(report: SeedReport, run: Run) -> None:
    """A Ctrl-C or SIGTERM ends the run with its status and one line, no traceback."""
    assert run.kill is not None
    kind = run.kill.kind
    if run.exit_code not in EXIT_STATUS[kind]:
        report.failures.append(f"run {run.number} ({kind}) exited with {run.exit_code}, "
                               f"not {EXIT_STATUS[kind]}: {run.stderr[-1000:]}")
    if kind in STOPS and run.exit_code is not None and run.exit_code > 0:
        # (a step's failure is logged with its traceback: not ours)
        lines = run.stderr.strip().splitlines()
        # "interrupted (SIGINT); ..." once it drives the execution, "interrupted" before
        if "KeyboardInterrupt" in run.stderr or not lines or (
            not lines[-1].startswith("durable-mp run: interrupted")
        ):
            report.failures.append(f"run {run.number} ({kind}) did not end with one line: "
                                   f"{run.stderr[-1000:]}")


def _one_run(rig: Rig, run: Run, contender: Contender | None
             ) -> tuple[dict[str, Any] | None, ContenderRun | None]:
    """Start the run (and its contender), stop it as planned; its ``--json`` output if it
    finished, and the contender."""
    begin = rig.markers_size()
    started = time.monotonic()
    run.files = rig.next_files()
    process = rig.start(run.files)
    rival = None
    if contender is not None:
        rival, process = _contend(rig, run, process, contender)
    run.pid = process.pid
    stop_at = _stop_instant(run.kill, started, rig, begin, process)
    hung = False
    if stop_at is not None:  # None: it ended first, or never got there
        try:
            process.wait(max(0.0, stop_at - time.monotonic()))
        except subprocess.TimeoutExpired:
            _stop(process, run.kill)
            run.killed, hung = run.kill is not None, run.kill is None
    process.wait()
    run.exit_code = process.returncode
    run.seconds = time.monotonic() - started
    run.markers = (begin, rig.markers_size())
    out, run.stderr = rig.output(run.files)
    if hung:
        run.stderr += f"\n(still running after {RUN_TIMEOUT:.0f} s: killed)"
    if run.killed:
        run.in_flight = _running_bodies(rig.markers, *run.markers)
    if run.killed or process.returncode != 0:
        return None, rival
    lines = out.strip().splitlines()
    return (json.loads(lines[-1]) if lines else None), rival


def _contend(rig: Rig, run: Run, process: subprocess.Popen[bytes], contender: Contender
             ) -> tuple[ContenderRun, subprocess.Popen[bytes]]:
    """Start the contender; the process that drives the execution once that is settled.

    Without ``--wait``, the two may race (started together, or while the first one still
    starts up): the one that loses exits 2 at once, and the run goes on with the owner.
    With ``--wait``, the contender starts once the run owns the execution, and waits.
    """
    if contender.wait:
        _wait_until_owning(rig, run, process)
    time.sleep(contender.after)
    rival = ContenderRun(rig, contender)
    if contender.wait:  # the run's stop comes once the contender waits for it
        deadline = time.monotonic() + RUN_TIMEOUT
        while rival.process.poll() is None and time.monotonic() < deadline:
            if "waiting for it to finish" in rig.output(rival.files)[1]:
                break
            time.sleep(0.02)
        return rival, process
    deadline = time.monotonic() + RUN_TIMEOUT
    while process.poll() is None and rival.process.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if process.poll() == 2 and rival.process.poll() is None:  # the contender won
        process, rival.process = rival.process, process
        run.files, rival.files = rival.files, run.files
    return rival, process


def _wait_until_owning(rig: Rig, run: Run, process: subprocess.Popen[bytes]) -> None:
    says = ("execution campaign started", "resuming execution campaign")
    deadline = time.monotonic() + RUN_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        if any(line in rig.output(run.files)[1] for line in says):
            return
        time.sleep(0.02)


def _adopt(rig: Rig, run: Run, rival: ContenderRun) -> dict[str, Any] | None:
    """A waiting contender took over from the killed owner: let it finish."""
    try:
        rival.process.wait(RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(rival.process.pid, signal.SIGKILL)
        rival.process.wait()
    run.pid = rival.process.pid
    run.exit_code = rival.process.returncode
    run.files = rival.files
    out, run.stderr = rig.output(rival.files)
    if run.exit_code != 0:
        return None
    lines = out.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def _stop(process: subprocess.Popen[bytes], kill: Kill | None) -> None:
    kind = kill.kind if kill is not None else "group"
    if kind == "group":
        os.killpg(process.pid, signal.SIGKILL)
    elif kind == "runner":
        os.kill(process.pid, signal.SIGKILL)
    elif kind == "sigint":
        os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the group
    elif kind == "sigterm":
        os.kill(process.pid, signal.SIGTERM)
    else:
        raise ValueError(kind)


def _stop_instant(kill: Kill | None, started: float, rig: Rig, begin: int,
                  process: subprocess.Popen[bytes]) -> float | None:
    """When to stop (monotonic time); None if the run ended before that was known."""
    if kill is None:
        return started + RUN_TIMEOUT  # a run that hangs is killed and reported
    if kill.step is None:
        return started + kill.after
    wanted = f'"step": "{kill.step}"'.encode()
    while process.poll() is None and time.monotonic() < started + RUN_TIMEOUT:
        if rig.markers.exists():
            with open(rig.markers, "rb") as source:
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
            return []  # stopped before it created the execution
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


def stop_once(seed: int, workdir: Path, kill: Kill) -> Rig:
    """One run of the seed's command, stopped as ``kill`` says (a store left half done)."""
    rig = Rig.make(seed, workdir)
    run = Run(0, kill)
    _one_run(rig, run, None)
    processes.kill_all(rig.tag)
    return rig
