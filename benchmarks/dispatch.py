"""Scenario 4: worker dispatch round trip (the pool alone, no durable execution).

``run(job)`` (what a process step uses: the caller reads the worker itself) and
``submit(job).result()`` (the pool thread reads, a future completes) for a trivial function
on the warm process-wide pool, against a raw ``Pipe`` + cloudpickle round trip to one loky
process with the caller reading the reply itself (the floor), loky's reusable executor,
and a thread pool hop. Calls run in blocks that alternate between contenders; a sample is
one block's median.
"""

from __future__ import annotations

import concurrent.futures
import statistics
import time
from typing import TYPE_CHECKING

import cloudpickle

from benchmarks.common import PROCESS, Row, ScenarioResult, Settings, Target

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection

POOL = f"{PROCESS} pool"
SUBMIT = f"{PROCESS} pool, submit() and its future"
RAW = "raw Pipe + cloudpickle (floor)"
LOKY = "loky reusable executor"
THREADS = "ThreadPoolExecutor hop"


def trivial(x: int) -> int:
    return x + 1


def _echo_loop(conn: Connection) -> None:
    while True:
        data = conn.recv_bytes()
        if not data:
            return
        fn, args = cloudpickle.loads(data)
        conn.send_bytes(cloudpickle.dumps(fn(*args)))


class _RawWorker:
    def __init__(self) -> None:
        from loky.backend.context import get_context

        ctx = get_context("loky")
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_echo_loop, args=(child,))
        self.process.init_main_module = False
        self.process.start()
        child.close()

    def call(self, i: int) -> None:
        self.conn.send_bytes(cloudpickle.dumps((trivial, (i,))))
        cloudpickle.loads(self.conn.recv_bytes())

    def close(self) -> None:
        self.conn.send_bytes(b"")
        self.process.join(5)


def _block(call: Callable[[int], object], calls: int) -> list[float]:
    samples = []
    for i in range(calls):
        started = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - started)
    return samples


def dispatch(settings: Settings) -> list[ScenarioResult]:
    from loky import get_reusable_executor

    from durable_mp.workers import Job, default_pool

    blocks = settings.rounds(15, 4, 2)
    calls = settings.pick(200, 100, 50)
    pool = default_pool()
    raw = _RawWorker()
    loky_executor = get_reusable_executor(max_workers=1)
    threads = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    def pool_call(i: int) -> None:
        pool.run(Job(cloudpickle.dumps((trivial, (i,))), "step 'bench'"))

    def submit_call(i: int) -> None:
        pool.submit(Job(cloudpickle.dumps((trivial, (i,))), "step 'bench'")).result()

    def loky_call(i: int) -> None:
        loky_executor.submit(trivial, i).result()

    def thread_call(i: int) -> None:
        threads.submit(trivial, i).result()

    contenders: dict[str, Callable[[int], None]] = {
        POOL: pool_call,
        SUBMIT: submit_call,
        RAW: raw.call,
        LOKY: loky_call,
        THREADS: thread_call,
    }
    medians: dict[str, list[float]] = {name: [] for name in contenders}
    every: dict[str, list[float]] = {name: [] for name in contenders}
    try:
        for call in contenders.values():
            _block(call, 50)  # warm-up
        order = list(contenders)
        for _ in range(blocks):
            for name in order:
                block = _block(contenders[name], calls)
                medians[name].append(1e6 * statistics.median(block))
                every[name] += block
            order = order[1:] + order[:1]
    finally:
        raw.close()
        threads.shutdown()
    rows = []
    for name in contenders:
        ordered = sorted(every[name])
        p90 = 1e6 * ordered[int(0.9 * (len(ordered) - 1))]
        overall = 1e6 * statistics.median(ordered)
        rows.append(
            Row(
                name,
                medians[name],
                f"all {len(ordered)} calls: median {overall:.0f} us, p90 {p90:.0f} us",
            )
        )
    result = ScenarioResult(
        key="dispatch_round_trip",
        title=f"4. Worker dispatch round trip, trivial function ({blocks} blocks of {calls} calls)",
        unit="us",
        higher_is_better=False,
        rows=rows,
        baseline=LOKY,
        parameters={"blocks": blocks, "calls_per_block": calls},
    )
    result.targets += [
        Target("pool round trip median", POOL, 200.0, False, result.median(POOL)),
        Target(
            "pool vs raw floor (x)",
            f"{POOL} vs {RAW}",
            3.0,
            False,
            result.median(POOL) / result.median(RAW),
        ),
    ]
    return [result]
