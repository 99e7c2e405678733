"""What the cold-start and memory scenarios run in a fresh interpreter.

    python -m benchmarks.child coldstart process|thread|official
    python -m benchmarks.child memory process|thread|official ITEMS ITERATIONS
    python -m benchmarks.child scale process|thread|official map|steps ITEMS

``coldstart`` prints ``first-result`` the moment the handler's first step returns (the
parent times the line from process start), then a JSON line of in-process timings.
``memory`` runs the CPU fan-out once and prints a JSON line with the peak RSS (VmHWM) of
this process and of every worker process, in MB; in process mode also each worker's private
memory before it ran any user code, and the PSS (shared pages divided among the processes
sharing them) of this process and of the pool's processes after the run.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


def _peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident set size (VmHWM) of a process, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def coldstart(contender: str) -> None:
    def announce(value: Any) -> None:
        sys.stdout.write("first-result\n")
        sys.stdout.flush()
        timings["first_result_s"] = time.perf_counter() - _STARTED
        timings["value"] = value

    timings: dict[str, Any] = {}
    if contender == "official":
        from aws_durable_execution_sdk_python.execution import durable_execution
        from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

        timings["imported_s"] = time.perf_counter() - _STARTED

        @durable_execution
        def official_handler(event: Any, ctx: Any) -> int:
            value = ctx.step(lambda _: 42, name="first")
            announce(value)
            return value

        with DurableFunctionTestRunner(handler=official_handler) as runner:
            runner.run(input="{}")
    else:
        from durable_mp import durable_execution
        from durable_mp.local import LocalRunner, LocalService

        timings["imported_s"] = time.perf_counter() - _STARTED

        @durable_execution(step_executor=contender)
        def handler(event: Any, ctx: Any) -> int:
            value = ctx.step(lambda _: 42, name="first")
            announce(value)
            return value

        LocalRunner(LocalService(), {"cold": handler}).run("cold", {})
    print(json.dumps(timings), flush=True)


def _rollup_mb(pid: int | str = "self") -> dict[str, float]:
    """Pss and private (clean + dirty) memory of a process, from smaps_rollup (Linux)."""
    fields: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                name, _, rest = line.partition(":")
                if name in ("Pss", "Private_Clean", "Private_Dirty"):
                    fields[name] = int(rest.split()[0]) / 1024
    except OSError:
        return {}
    return {
        "pss": fields.get("Pss", 0.0),
        "private": fields.get("Private_Clean", 0.0) + fields.get("Private_Dirty", 0.0),
    }


def _pool_pids(pool: Any) -> list[int]:
    """The pool's processes: its workers and, where there is one, its fork server."""
    helper = getattr(pool, "zygote_pid", None)
    return [*pool.worker_pids(), *([helper] if helper else [])]


def _settled_workers(pool: Any, timeout: float = 30.0) -> list[int]:
    """The pids of the pool's workers once they have all started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = pool.worker_pids()
        if len(pids) >= pool.size and all(_rollup_mb(pid) for pid in pids):
            time.sleep(0.2)  # let each one finish booting
            return list(pool.worker_pids())
        time.sleep(0.02)
    return list(pool.worker_pids())


def memory(contender: str, items: int, iterations: int) -> None:
    from benchmarks import workloads
    from benchmarks.contenders import run_durable_mp, run_official

    event = {"items": items, "iterations": iterations}
    workers: list[float] = []
    report: dict[str, Any] = {}
    if contender == "official":
        run_official(workloads.official_fanout_map(), event)
    elif contender == "process":
        from durable_mp.workers import default_pool

        pool = default_pool()
        fresh = [_rollup_mb(pid) for pid in _settled_workers(pool)]
        report["fresh_private_mb"] = [m["private"] for m in fresh if m]
        run_durable_mp(workloads.dmp_fanout_map(contender), event)
        for pid in pool.worker_pids():
            peak = _peak_rss_mb(pid)
            if peak is not None:
                workers.append(peak)
        report["pool_pss_mb"] = sum(_rollup_mb(pid).get("pss", 0.0) for pid in _pool_pids(pool))
        after = [_rollup_mb(pid) for pid in pool.worker_pids()]
        report["used_private_mb"] = [m["private"] for m in after if m]
    else:
        run_durable_mp(workloads.dmp_fanout_map(contender), event)
    report["parent_pss_mb"] = _rollup_mb().get("pss", 0.0)
    report |= {"parent_mb": _peak_rss_mb(), "workers_mb": workers}
    print(json.dumps(report), flush=True)


def scale(contender: str, kind: str, items: int) -> None:
    """One map over ``items`` trivial items (or as many sequential steps): wall time,
    then (durable-mp) a replay of the finished execution, and this process's peak RSS."""
    from benchmarks import workloads
    from benchmarks.contenders import run_official

    timings: dict[str, Any] = {}
    if contender == "official":
        handler = workloads.official_trivial_map() if kind == "map" else workloads.official_steps()
        seconds, value = run_official(handler, {"items": items, "steps": items})
    else:
        from durable_mp.local import LocalRunner, LocalService

        handler = (
            workloads.dmp_trivial_map(contender)
            if kind == "map"
            else workloads.dmp_steps(contender)
        )
        service = LocalService()
        runner = LocalRunner(service, {"scale": handler})
        started = time.perf_counter()
        record = runner.run("scale", {"items": items, "steps": items})
        seconds = time.perf_counter() - started
        if record.status != "SUCCEEDED":
            raise RuntimeError(f"execution ended {record.status}: {record.error}")
        value = json.loads(record.result or "null")
        started = time.perf_counter()
        replayed = runner.replay(record.arn)
        timings["replay_s"] = time.perf_counter() - started
        if replayed.get("Status") != "SUCCEEDED":
            raise RuntimeError(f"replay answered {replayed.get('Status')}")
    expected = sum(range(items))
    if value != expected:
        raise RuntimeError(f"{contender} {kind} of {items} gave {value}, expected {expected}")
    timings["seconds"] = seconds
    timings["parent_mb"] = _peak_rss_mb()
    print(json.dumps(timings), flush=True)


def main(argv: list[str]) -> None:
    if argv[0] == "coldstart":
        coldstart(argv[1])
    elif argv[0] == "memory":
        memory(argv[1], int(argv[2]), int(argv[3]))
    elif argv[0] == "scale":
        scale(argv[1], argv[2], int(argv[3]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
