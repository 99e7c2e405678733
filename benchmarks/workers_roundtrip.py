"""Dispatch round trip and worker start time of WorkerPool, against a raw Pipe baseline.

    python benchmarks/workers_roundtrip.py [--rounds 3000] [--workers 2]

"raw" is the floor: one loky process, one Pipe, cloudpickle both ways, the caller's own
thread reading the reply (no thread hand-off). "pool" is ``WorkerPool.submit(job).result()``
for a trivial function on a warm pool: the pool thread reads the result and wakes the
caller through the future. Blocks of both alternate so both see the same machine load.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import TYPE_CHECKING

import cloudpickle
from loky.backend.context import get_context

from durable_mp.workers import Job, WorkerPool

if TYPE_CHECKING:
    from multiprocessing.connection import Connection


def trivial(x: int) -> int:
    return x + 1


def echo_loop(conn: Connection) -> None:
    while True:
        data = conn.recv_bytes()
        if not data:
            return
        fn, args = cloudpickle.loads(data)
        conn.send_bytes(cloudpickle.dumps(fn(*args)))


def _summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"{name:<6} median {1e6 * statistics.median(samples):7.1f} us   p90 {1e6 * p90:7.1f} us"


class RawWorker:
    """One loky process behind one Pipe: the floor for a process round trip."""

    def __init__(self) -> None:
        ctx = get_context("loky")
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=echo_loop, args=(child,))
        self.process.init_main_module = False
        self.process.start()
        child.close()

    def round_trips(self, rounds: int) -> list[float]:
        samples = []
        for i in range(rounds):
            start = time.perf_counter()
            self.conn.send_bytes(cloudpickle.dumps((trivial, (i,))))
            cloudpickle.loads(self.conn.recv_bytes())
            samples.append(time.perf_counter() - start)
        return samples

    def close(self) -> None:
        self.conn.send_bytes(b"")
        self.process.join()


def pool_round_trips(pool: WorkerPool, rounds: int) -> list[float]:
    samples = []
    for i in range(rounds):
        start = time.perf_counter()
        job = Job(cloudpickle.dumps((trivial, (i,))), "step 'bench'")
        pool.submit(job).result()
        samples.append(time.perf_counter() - start)
    return samples


def start_times(workers: int) -> tuple[float, float]:
    """(constructor returned, every worker has run a job), in seconds."""
    start = time.perf_counter()
    pool = WorkerPool(workers)
    built = time.perf_counter() - start
    sleeper = cloudpickle.dumps((time.sleep, (0.05,)))
    futures = [pool.submit(Job(sleeper, "warm")) for _ in range(workers)]
    for future in futures:
        future.result()
    ready = time.perf_counter() - start - 0.05
    pool.shutdown()
    return built, ready


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    raw, pool = RawWorker(), WorkerPool(args.workers)
    raw.round_trips(50)
    pool_round_trips(pool, 50)
    raw_samples: list[float] = []
    pool_samples: list[float] = []
    block = 100  # interleaved, so both see the same machine load
    for _ in range(max(1, args.rounds // block)):
        raw_samples += raw.round_trips(block)
        pool_samples += pool_round_trips(pool, block)
    raw.close()
    pool.shutdown()
    print(_summary("raw", raw_samples))
    print(_summary("pool", pool_samples))
    for workers in (1, 2, 4):
        built, ready = start_times(workers)
        print(
            f"start  {workers} worker(s): constructor {1e3 * built:6.1f} ms,"
            f" all workers ran a job after {1e3 * ready:6.1f} ms"
        )


if __name__ == "__main__":
    main()
