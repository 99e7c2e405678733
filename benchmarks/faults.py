"""``python -m benchmarks.faults``: the fault campaign's long version; writes
``docs/reliability.md`` (and every figure in ``benchmarks/results/faults.json``).

The short version runs in the test suite (``tests/faults``, marker ``faults``); this one
runs the same machinery over many seeds:

1. SIGKILL of ``durable-mp run`` (its process group, or the runner alone) at random
   instants of one workflow holding every kind of operation, then the identical command
   until it finishes (``--seeds``, default 50); plus the kills aimed at a step whose
   processes run, with the reaper and without it (what survives a SIGKILL);
2. Ctrl-C seven times in a row then a resume, and seeds mixing SIGKILL, SIGINT, SIGTERM
   and contending runs (together, seconds later, waiting);
3. API faults on the Lambda path: ``durable-mp serve`` driven by dex-local-runner, its
   checkpoint calls through a fault-injecting proxy (``--api`` executions, default 20),
   with bursts of requests at serve meanwhile;
4. stores: another application's database, damaged stores, a disk that fills up.

Exit status 1 if any guarantee broke (the document says which). Takes about half an hour
on two cores; run it when the machine is quiet (``--quick`` tries every part briefly).
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tests.faults import campaign, stores
from tests.faults.api_faults import EVERY_FAULT, LambdaStack
from tests.faults.campaign import AIMED, SEVEN_CTRL_C
from tests.faults.proxy import FAULTS, FaultPlan

from benchmarks.report import commit, machine, versions

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "reliability.md"
RESULTS = ROOT / "benchmarks" / "results" / "faults.json"
COMMAND = "python -m benchmarks.faults"
FULL_DISK_KB = (64, 400, 600, 800, 1200, 1600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50, help="SIGKILL seeds (default 50)")
    parser.add_argument("--api", type=int, default=20, help="API-fault executions (20)")
    parser.add_argument("--quick", action="store_true", help="a few of everything")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument(
        "--from-json", action="store_true",
        help="write --output again from the figures in --json, running nothing",
    )
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(args.json.read_text())
        args.output.write_text(markdown(results, violations(results)))
        return 0
    if args.quick:
        args.seeds, args.api = 3, 2
    started = time.monotonic()
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "commit": commit(ROOT),
        "machine": machine(),
        "versions": versions(),
        "command": COMMAND + (" --quick" if args.quick else ""),
    }
    with tempfile.TemporaryDirectory(prefix="faults-") as scratch:
        work = Path(scratch)
        results: dict[str, Any] = {"meta": meta}
        results["sigkill"] = _timed(lambda: sigkill_part(work / "sigkill", args.seeds))
        results["survivors"] = _timed(lambda: survivors_part(work / "survivors"))
        results["interruptions"] = _timed(
            lambda: interruptions_part(work / "interruptions", 1 if args.quick else 3,
                                       3 if args.quick else 12))
        results["api"] = _timed(lambda: api_part(work / "api", args.api))
        results["stores"] = _timed(lambda: stores_part(work / "stores", args.quick))
    meta["minutes"] = round((time.monotonic() - started) / 60, 1)
    meta["load_average_after"] = machine()["load_average"]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(_anonymous(json.dumps(results, indent=2, default=str)) + "\n")
    broken = violations(results)
    args.output.write_text(markdown(results, broken))
    print(f"wrote {args.output} and {args.json} in {meta['minutes']} min; "
          f"{'every guarantee held' if not broken else f'{len(broken)} broken'}")
    for problem in broken:
        print(f"  {problem}")
    return 1 if broken else 0


def _timed(part: Any) -> dict[str, Any]:
    started = time.monotonic()
    found: dict[str, Any] = part()
    found["seconds"] = round(time.monotonic() - started, 1)
    print(f"  ... {found['seconds']:.0f} s", flush=True)
    return found


def _say(text: str) -> None:
    print(text, flush=True)


# -- 1. SIGKILL ----------------------------------------------------------------------------


def seed_json(report: campaign.SeedReport) -> dict[str, Any]:
    data = asdict(report)
    data["ok"] = report.ok
    for run in data["runs"]:
        run["stderr"] = run["stderr"][-300:]
        run["done_before"] = sorted(run["done_before"])
    return data


def sigkill_part(work: Path, seeds: int) -> dict[str, Any]:
    _say(f"1. SIGKILL campaign: {seeds} seeds")
    reports = []
    for seed in range(1, seeds + 1):
        report = campaign.run_seed(seed, work / f"seed-{seed}")
        _say(f"  {report.summary()}")
        reports.append(seed_json(report))
    return {"seeds": reports}


def survivors_part(work: Path) -> dict[str, Any]:
    """The aimed kills (a step's processes running) without the reaper, then with it."""
    _say("1b. what survives a SIGKILL: the aimed kills without the reaper, then with it")
    found = {}
    for label, env in (("without", {"DURABLE_MP_REAPER": "0"}), ("with", {})):
        report = campaign.run_seed(1001, work / label, kills=AIMED, env=env)
        _say(f"  {label} the reaper: {report.summary()}")
        found[label] = seed_json(report)
    return found


# -- 2. interruptions and contenders -------------------------------------------------------


def mixed_plan(seed: int) -> tuple[list[campaign.Kill], dict[int, campaign.Contender]]:
    """Stops of every kind, and contenders: together with the first run, or later."""
    kills = campaign.plan(seed, most=5, kinds=campaign.KILLS + campaign.STOPS)
    rng = random.Random(seed * 31)
    contenders: dict[int, campaign.Contender] = {}
    if rng.random() < 0.5:
        contenders[0] = campaign.Contender(0.0)
    for number in range(1, len(kills) + 1):
        roll = rng.random()
        if roll < 0.3:
            contenders[number] = campaign.Contender(round(rng.uniform(0.5, 3.0), 2))
        elif roll < 0.45:
            contenders[number] = campaign.Contender(round(rng.uniform(0.1, 1.0), 2),
                                                    wait=True)
    return kills, contenders


def interruptions_part(work: Path, ctrl_c_seeds: int, mixed_seeds: int) -> dict[str, Any]:
    _say(f"2. interruptions: {ctrl_c_seeds} x seven Ctrl-C, {mixed_seeds} mixed seeds")
    seven = []
    for seed in range(1, ctrl_c_seeds + 1):
        report = campaign.run_seed(100 + seed, work / f"ctrl-c-{seed}", kills=SEVEN_CTRL_C)
        _say(f"  {report.summary()}")
        seven.append(seed_json(report))
    mixed = []
    for seed in range(1, mixed_seeds + 1):
        kills, contenders = mixed_plan(200 + seed)
        report = campaign.run_seed(200 + seed, work / f"mixed-{seed}", kills=kills,
                                   contenders=contenders)
        _say(f"  {report.summary()}")
        mixed.append(seed_json(report))
    return {"seven_ctrl_c": seven, "mixed": mixed}


# -- 3. API faults ---------------------------------------------------------------------------


def api_part(work: Path, executions: int) -> dict[str, Any]:
    _say(f"3. API faults on the Lambda path: 1 scripted + {executions} random executions")
    found: list[dict[str, Any]] = []
    bursts: list[dict[str, int]] = []
    with LambdaStack(work) as stack:
        plans = [FaultPlan(script=EVERY_FAULT)] + [
            FaultPlan(seed=seed, probability=0.2) for seed in range(1, executions + 1)
        ]
        for number, plan in enumerate(plans):
            burst = None
            if number % 4 == 0:
                burst = threading.Timer(
                    3.0, lambda: bursts.append(dict(stack.burst(200))))
                burst.start()
            report = stack.run(number, plan)
            if burst is not None:
                burst.join(120)
            _say(f"  {report.summary()}")
            data = asdict(report)
            data["ok"] = report.ok
            data["plan"] = "every kind, scripted" if plan.script else "random, p=0.2"
            found.append(data)
        leftovers = stack.leftovers()
    return {"executions": found, "bursts": bursts, "leftovers": leftovers}


# -- 4. stores -----------------------------------------------------------------------------


def stores_part(work: Path, quick: bool) -> dict[str, Any]:
    _say("4. stores: foreign, damaged, full")
    half = stores.half_done_store(work / "half")
    damaged = {}
    for how in stores.DAMAGES:
        folder = work / how
        folder.mkdir(parents=True)
        store = folder / "runs.db"
        store.write_bytes(stores.damaged(half, how))
        damaged[how] = [asdict(a) | {"line": _shown(a.line, store)}
                        for a in stores.answers(store, folder)]
    foreign_folder = work / "foreign"
    foreign_folder.mkdir()
    foreign = foreign_folder / "app.db"
    stores.foreign_database(foreign)
    foreign_answers = [asdict(a) | {"line": _shown(a.line, foreign)}
                       for a in stores.answers(foreign, work / "foreign-markers")]
    full = []
    for kilobytes in (FULL_DISK_KB[:2] if quick else FULL_DISK_KB):
        done = subprocess.run(
            ["unshare", "-m", "--propagation", "private", sys.executable, "-m",
             "tests.faults.full_disk", str(work / f"full-{kilobytes}"), str(kilobytes)],
            check=False, capture_output=True, text=True, timeout=600, cwd=ROOT,
        )
        if done.returncode != 0 or not done.stdout.strip():
            full.append({"kilobytes": kilobytes, "ok": False, "error": done.stderr[-500:]})
            continue
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
        outcome["kilobytes"] = kilobytes
        for stop in outcome["stops"]:
            stop["last_line"] = _shown(stop["last_line"], work / f"full-{kilobytes}" /
                                       "disk" / "runs.db")
        _say(f"  full disk at {kilobytes} KB: {outcome['summary'].splitlines()[0]}")
        full.append(outcome)
    return {"damaged": damaged, "foreign": foreign_answers, "full": full}


def _shown(line: str, store: Path) -> str:
    return line.replace(str(store), "STORE")


# -- judging and the document -----------------------------------------------------------------


def _seed_lists(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {
        "SIGKILL": results["sigkill"]["seeds"],
        "survivors, with the reaper": [results["survivors"]["with"]],
        "seven Ctrl-C": results["interruptions"]["seven_ctrl_c"],
        "mixed": results["interruptions"]["mixed"],
    }


def violations(results: dict[str, Any]) -> list[str]:
    found = []
    for part, seeds in _seed_lists(results).items():
        for seed in seeds:
            if not seed["ok"]:
                found.append(f"{part} seed {seed['seed']}: "
                             + "; ".join(_problems(seed))[:500])
            elif part != "SIGKILL" and any(run["survivors"] for run in seed["runs"]):
                found.append(f"{part} seed {seed['seed']}: processes survived a stop")
    for execution in results["api"]["executions"]:
        if not execution["ok"]:
            found.append(f"API execution {execution['seed']}: "
                         + "; ".join(execution["failures"] + execution["lost"]
                                     + execution["history_problems"])[:500])
    for burst in results["api"]["bursts"]:
        if set(burst) != {"204"}:
            found.append(f"serve burst: {burst}")
    if results["api"]["leftovers"]:
        found.append(f"serve/dex left processes: {results['api']['leftovers']}")
    store_part = results["stores"]
    for how, answers in store_part["damaged"].items():
        for answer in answers:
            if answer["command"] == "list" and answer["exit_code"] == 0:
                continue
            if not (answer["exit_code"] in (1, 2) and answer["lines"] == 1
                    and not answer["traceback"]):
                found.append(f"damaged store ({how}), {answer['command']}: {answer}")
    for answer in store_part["foreign"]:
        if not (answer["exit_code"] == 2 and answer["lines"] == 1 and answer["unchanged"]):
            found.append(f"foreign database, {answer['command']}: {answer}")
    for outcome in store_part["full"]:
        if not outcome.get("ok") or any(s["traceback"] or s["integrity"] or s["exit"] != 1
                                        for s in outcome.get("stops", [])):
            found.append(f"full disk at {outcome['kilobytes']} KB: {outcome}")
    return found


def _problems(seed: dict[str, Any]) -> list[str]:
    return [*seed["failures"], *seed["reran_completed"], *seed["at_most_once_twice"],
            *seed["integrity"], *seed["history_problems"],
            *(f"left running: {s}" for s in seed["survivors_at_end"])]


def _stats(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    kills = [run for seed in seeds for run in seed["runs"] if run["killed"]]
    planned = sum(1 for seed in seeds for run in seed["runs"] if run["kill"])
    landed_in: Counter[str] = Counter()
    for run in kills:
        for step in run["in_flight"] or ["(no step body: start-up, replay, a wait)"]:
            landed_in[_family(step)] += 1
    survivors = [s for seed in seeds for run in seed["runs"] for s in run["survivors"]]
    return {
        "seeds": len(seeds),
        "ok": sum(seed["ok"] for seed in seeds),
        "kills": len(kills),
        "by_kind": Counter(run["kill"]["kind"] for run in kills),
        "not_landed": planned - len(kills),
        "runs": sum(len(seed["runs"]) for seed in seeds),
        "resumes": sum(len(seed["runs"]) - 1 for seed in seeds),
        "landed_in": landed_in,
        "starts": sum(seed["starts"] for seed in seeds),
        "attempts": sum(seed["attempts"] for seed in seeds),
        "reran_in_flight": sum(seed["reran_in_flight"] for seed in seeds),
        "reran_completed": sum(len(seed["reran_completed"]) for seed in seeds),
        "at_most_once_twice": sum(len(seed["at_most_once_twice"]) for seed in seeds),
        "results_right": sum(seed["result_ok"] for seed in seeds),
        "integrity_bad": sum(len(seed["integrity"]) for seed in seeds),
        "history_bad": sum(len(seed["history_problems"]) for seed in seeds),
        "survivors": survivors,
        "survivors_at_end": sum(len(seed["survivors_at_end"]) for seed in seeds),
        "seconds": [seed["seconds"] for seed in seeds],
        "contenders": Counter(run["contender"] for seed in seeds for run in seed["runs"]
                              if run["contender"]),
    }


def _family(step: str) -> str:
    return "crunch (the map's items)" if step.startswith("crunch-") else step


def markdown(results: dict[str, Any], broken: list[str]) -> str:
    meta = results["meta"]
    m = meta["machine"]
    out = [
        "# Reliability: the fault campaign",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} (commit {meta['commit']}), "
        f"{meta['minutes']} minutes on {m['cpu']} ({m['usable_cpus']} usable CPUs), "
        f"{m['os']}, Python {m['python']}; load average {m['load_average'][0]} before, "
        f"{meta['load_average_after'][0]} after (other work shared the machine). "
        "Do not edit by hand: run the command again.",
        "",
        "**" + ("Every guarantee held." if not broken else
                f"{len(broken)} guarantee(s) broke:") + "**",
        "",
        *(f"- {problem}" for problem in broken),
        "",
        "What is tested: the guarantees of the README's [Guarantees](../README.md#guarantees)"
        " section. The short version of every part runs in the test suite (`tests/faults`, "
        "marker `faults`, about two minutes).",
        "",
        "## The workflow",
        "",
        "One handler ([tests/faults/workflow.py](../tests/faults/workflow.py)) holds every "
        "kind of operation a kill can land in: an at-least-once CPU step, an at-most-once "
        "step (0.3 s of \"external call\"), a step that fails its first attempt and is "
        "retried after a 1 s durable timer, a child context of two steps, a 1 s wait, a map "
        "of four CPU items in worker processes (two at a time), a step that starts a "
        "sleeper in each shape a step may start a process (a plain child, one in its own "
        "session, a double-forked orphan) and then works for 0.5 s, a callback completed "
        "from another process with `durable-mp callback succeed`, and a second at-most-once "
        "step. Every step body appends `(step, attempt, pid)` to a marker file, fsync'd, "
        "when it starts and ends. Its result depends only on its input.",
        "",
    ]
    out += _sigkill_section(results)
    out += _survivors_section(results)
    out += _interruptions_section(results)
    out += _api_section(results)
    out += _stores_section(results)
    out += _limits()
    return _anonymous("\n".join(out) + "\n")


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def _anonymous(text: str) -> str:
    """No path of this machine in the document: the repository, the interpreter, the
    scratch directories."""
    for path, name in ((sys.prefix, "<venv>"), (str(ROOT), "."), (sys.base_prefix, "<python>")):
        text = text.replace(path, name)
    return re.sub(r"/tmp/[\w.-]*faults-[\w]+", "<tmp>", text)


def _process_name(command: str) -> str:
    if "loky.backend.resource_tracker" in command:
        return "loky's resource tracker"
    if "multiprocessing.resource_tracker" in command:
        return "multiprocessing's resource tracker"
    if "popen_loky_posix" in command:
        return "a worker"
    if "durable_mp.workers.zygote" in command:
        return "a fork server or one of its workers"
    return _anonymous(command)


def _kinds(counter: dict[str, int]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(counter.items())) or "none"


def _sigkill_section(results: dict[str, Any]) -> list[str]:
    s = _stats(results["sigkill"]["seeds"])
    seconds = s["seconds"]
    landed = ", ".join(f"{k} {v}" for k, v in s["landed_in"].most_common())
    survivors = s["survivors"]
    return [
        "## 1. SIGKILL at random instants",
        "",
        "Each seed: 1 to 4 SIGKILLs, each at a random instant 0.2-5 s into its run, of the "
        "`durable-mp run --store` process group (the run and its workers, as a terminal's "
        "kill of the job) or of the runner process alone; after each, the identical command "
        "again, until a run finishes. Then: the result, the marker file, the final history, "
        "`PRAGMA integrity_check`, and a scan of every process for the run's environment "
        "tag (workers and whatever steps started, whatever session they moved to).",
        "",
        "| figure | value |",
        "|---|---|",
        _row("seeds", s["seeds"]),
        _row("SIGKILLs that landed", f"{s['kills']} ({_kinds(s['by_kind'])}); "
             f"{s['not_landed']} more were planned for runs that finished first"),
        _row("runs / resumes (the identical command again)", f"{s['runs']} / {s['resumes']}"),
        _row("where the kills landed (step bodies running)", landed),
        _row("step bodies started / distinct attempts", f"{s['starts']} / {s['attempts']}"),
        _row("bodies run again after a kill interrupted them (at-least-once)",
             s["reran_in_flight"]),
        _row("**completed steps run again**", f"**{s['reran_completed']}**"),
        _row("**at-most-once attempts run twice**", f"**{s['at_most_once_twice']}**"),
        _row("**results right**", f"**{s['results_right']} of {s['seeds']}**"),
        _row("histories well formed (after every kill and at the end)",
             "all" if not s["history_bad"] else f"{s['history_bad']} problems"),
        _row("`PRAGMA integrity_check` (after every kill and at the end)",
             "ok every time" if not s["integrity_bad"] else f"{s['integrity_bad']} failed"),
        _row("processes of the run alive 2 s after a kill",
             len(survivors) if not survivors else
             f"{len(survivors)}: " + "; ".join(sorted({_process_name(x["command"])
                                                      for x in survivors}))),
        _row("processes alive once the run finished", s["survivors_at_end"]),
        _row("time", f"{sum(seconds) / 60:.1f} min, median {statistics.median(seconds):.1f} s"
             " per seed" if seconds else "-"),
        "",
    ]


def _survivors_section(results: dict[str, Any]) -> list[str]:
    rows = []
    for label in ("without", "with"):
        seed = results["survivors"][label]
        seen: set[int] = set()
        for run in seed["runs"]:
            if not run["killed"]:
                continue
            kill = run["kill"]
            new = [x for x in run["survivors"] if x["pid"] not in seen]
            seen.update(x["pid"] for x in run["survivors"])
            shown = Counter(
                f"{_process_name(x['command'])} "
                f"({'another session' if x['session'] != run['pid'] else 'the run session'})"
                for x in new
            )
            rows.append(_row(f"{label} the reaper", f"{kill['kind']} at {kill['step']} "
                             f"+{kill['after']} s", ", ".join(run["in_flight"]) or "-",
                             len(new), "; ".join(f"{k} x{v}" if v > 1 else k
                                                 for k, v in shown.items()) or "-"))
    return [
        "## 1b. What a SIGKILL leaves behind",
        "",
        "The same workflow, its runs killed where it matters: while the `spawn` step's "
        "three sleepers run (orphaned when the worker dies with its parent; in their own "
        "sessions, out of reach of a process-group kill), first with the worker reaper "
        "turned off (`DURABLE_MP_REAPER=0`), then as shipped. Survivors are counted 2 s "
        "after each kill (the ones an earlier kill left are not counted again), and killed "
        "by the campaign when the seed ends.",
        "",
        "| reaper | kill | step bodies running | processes left 2 s later (new ones) | which |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "Without the reaper, a kill of the runner alone is survived by nothing: the pool's "
        "fork server gets its death signal and ends every process below it (workers are "
        "subreapers, so what their steps started is still below it). A kill of the whole "
        "process group kills the fork server too, and what a step started in a session of "
        "its own (out of the group's reach) is orphaned to PID 1 and lives on. With the "
        "reaper (a small process in a session of its own, started with the pool), "
        "everything carrying the run's worker tag is stopped and killed as soon as the "
        "runner is gone.",
        "",
    ]


def _interruptions_section(results: dict[str, Any]) -> list[str]:
    seven = _stats(results["interruptions"]["seven_ctrl_c"])
    mixed = _stats(results["interruptions"]["mixed"])
    return [
        "## 2. Interruptions and contending runs",
        "",
        "**Seven Ctrl-C in a row, then the identical command**: SIGINT to the run's process "
        "group (as a terminal sends it) 50 ms after each of seven step bodies started "
        "(more than the five failed invocations that fail an execution). **Mixed seeds**: "
        "1 to 5 stops of any kind (SIGKILL of the group or of the runner, SIGINT, SIGTERM) "
        "at random instants, and contenders: the identical command started together with "
        "the first run, or 0.5-3 s into a later one, or with `--wait` once a run owns the "
        "execution (then that run is killed).",
        "",
        "| figure | seven Ctrl-C | mixed |",
        "|---|---|---|",
        _row("seeds", seven["seeds"], mixed["seeds"]),
        _row("stops that landed", f"{seven['kills']} ({_kinds(seven['by_kind'])})",
             f"{mixed['kills']} ({_kinds(mixed['by_kind'])})"),
        _row("Ctrl-C / SIGTERM that ended in exit 130 / 143 and one line",
             "all" if not any("did not end" in f or "exited with" in f
                              for seed in results["interruptions"]["seven_ctrl_c"]
                              for f in seed["failures"]) else "see above",
             "all" if not any("did not end" in f or "exited with" in f
                              for seed in results["interruptions"]["mixed"]
                              for f in seed["failures"]) else "see above"),
        _row("contenders", "-", _kinds(mixed["contenders"])),
        _row("bodies run again after a stop interrupted them", seven["reran_in_flight"],
             mixed["reran_in_flight"]),
        _row("**completed steps run again**", seven["reran_completed"],
             mixed["reran_completed"]),
        _row("**at-most-once attempts run twice**", seven["at_most_once_twice"],
             mixed["at_most_once_twice"]),
        _row("**results right**", f"{seven['results_right']} of {seven['seeds']}",
             f"{mixed['results_right']} of {mixed['seeds']}"),
        _row("histories well formed, integrity ok",
             "yes" if not (seven["history_bad"] or seven["integrity_bad"]) else "no",
             "yes" if not (mixed["history_bad"] or mixed["integrity_bad"]) else "no"),
        _row("processes alive 2 s after a stop / at the end",
             f"{len(seven['survivors'])} / {seven['survivors_at_end']}",
             f"{len(mixed['survivors'])} / {mixed['survivors_at_end']}"),
        "",
        "A contender without `--wait` is *refused* (exit 2, one line naming the owner's pid, "
        "host and since when) or, if the owner had just finished, *reported* its result; "
        "one with `--wait` *took over* when the owner was killed, or *resumed* when the "
        "owner was already gone when it looked.",
        "",
    ]


def _api_section(results: dict[str, Any]) -> list[str]:
    executions = results["api"]["executions"]
    faults: Counter[str] = Counter()
    for execution in executions:
        faults.update(execution["faults"])
    seconds = [e["seconds"] for e in executions]
    bursts = results["api"]["bursts"]
    return [
        "## 3. API faults on the Lambda path",
        "",
        "The same workflow served by `durable-mp serve` (sandboxes: awslambdaric, frozen "
        "between invocations, 3,538 MB, a 10 s timeout), driven by AWS's dex-local-runner; "
        "the handler's checkpoint calls go through a fault-injecting proxy "
        "([tests/faults/proxy.py](../tests/faults/proxy.py)). Faults: 429 "
        "`ThrottlingException` and 500 `ServiceException` (not forwarded), a TCP reset "
        "before forwarding, a reset *after* the call was applied (the answer is lost), a "
        "superseded checkpoint token, and a call held past the function's timeout. One "
        "execution meets every kind in turn; the others meet a fault at each checkpoint "
        "call with probability 0.2 (at most two on one call's retries, at most two "
        "invocation-failing faults per execution: the service fails an execution after "
        "five failed invocations in a row). The callback is completed through dex's API.",
        "",
        "| figure | value |",
        "|---|---|",
        _row("executions", len(executions)),
        _row("checkpoint calls", sum(e["calls"] for e in executions)),
        _row("faults injected", f"{sum(faults.values())} ({_kinds(faults)})"),
        _row("faults per kind, every kind present",
             "yes" if set(faults) >= set(FAULTS) else f"missing {set(FAULTS) - set(faults)}"),
        _row("acknowledged checkpoint updates (a 2xx answer reached the handler)",
             sum(e["acknowledged"] for e in executions)),
        _row("**acknowledged updates missing from the final history**",
             f"**{sum(len(e['lost']) for e in executions)}**"),
        _row("**results right**",
             f"**{sum(e['result_ok'] for e in executions)} of {len(executions)}**"),
        _row("**completed steps run again / at-most-once attempts run twice**",
             f"**{sum(len(e['reran_completed']) for e in executions)} / "
             f"{sum(len(e['at_most_once_twice']) for e in executions)}**"),
        _row("bodies run again (an invocation failed under them)",
             sum(e["reran_in_flight"] for e in executions)),
        _row("histories well formed",
             "all" if not any(e["history_problems"] for e in executions) else "no"),
        _row("bursts of 200 concurrent requests at serve meanwhile",
             f"{len(bursts)}: " + "; ".join(_kinds(b) for b in bursts) if bursts else "-"),
        _row("processes serve and dex left behind", len(results["api"]["leftovers"])),
        _row("time", f"{sum(seconds) / 60:.1f} min, median "
             f"{statistics.median(seconds):.1f} s per execution" if seconds else "-"),
        "",
        "A throttled, failed or reset call is retried by botocore (standard mode, 5 "
        "attempts); a reset after the call was applied is retried with the same client "
        "token and gets the service's cached answer; a stale token or a timed-out "
        "invocation fails the invocation with an error the service retries (dex after 5 s).",
        "",
    ]


def _stores_section(results: dict[str, Any]) -> list[str]:
    part = results["stores"]
    rows = []
    for how, answers in part["damaged"].items():
        for a in answers:
            rows.append(_row(f"damaged: {how}", a["command"], a["exit_code"],
                             a["line"] or "(succeeded: what it reads is intact)",
                             "yes" if a["unchanged"] else "no"))
    for a in part["foreign"]:
        rows.append(_row("another application's database", a["command"], a["exit_code"],
                         a["line"], "yes" if a["unchanged"] else "no"))
    full_rows = []
    for outcome in part["full"]:
        stops = outcome.get("stops") or [{}]
        stop = stops[0]
        full_rows.append(_row(
            f"{outcome['kilobytes']} KB",
            len(stop.get("steps_done") or []),
            stop.get("exit", "-"),
            stop.get("last_line", outcome.get("error", "")),
            "yes" if outcome.get("ok") else "no",
        ))
    return [
        "## 4. Stores",
        "",
        "The campaign's command (`run`), `list` and `history`, given another application's "
        "SQLite file, or the campaign's store, its execution SIGKILLed half way, then "
        "damaged: truncated, its header wiped, or the page of its `events` table "
        "overwritten (found only when the run reads its history). *Unchanged*: the "
        "directory's files byte for byte as before the command (a reader's `-wal`/`-shm` "
        "files count as a change).",
        "",
        "| store | command | exit | what it said | unchanged |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "A disk that fills up: the store alone on a tmpfs of a private mount namespace, "
        "the identical command until it stops, the tmpfs grown to 64 MB, the command again.",
        "",
        "| tmpfs | steps done when it filled | exit | what it said | then finished right, "
        "nothing completed re-run |",
        "|---|---|---|---|---|",
        *full_rows,
        "",
    ]


def _limits() -> list[str]:
    return [
        "## What this does not cover",
        "",
        "- A SIGKILL of every process of the user (the reaper too): what steps started in "
        "other sessions survives it. A machine that loses power loses its processes anyway.",
        "- A process a step starts that clears its environment, or changes user, escapes "
        "the reaper's scan (a per-run cgroup would catch it; it needs privileges this SDK "
        "does not ask for).",
        "- The Lambda path runs against dex-local-runner, not the real service; dex answers "
        "a stale token without an error code, which durable-mp now handles.",
        "- Disk faults other than a full disk (EIO on a failing disk, a file changed under a "
        "running store) are only covered by the damaged-store cases.",
        "",
    ]


if __name__ == "__main__":
    sys.exit(main())
