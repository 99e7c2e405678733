"""Issue acceptance: process mode works where sem_open fails (AWS Lambda has no /dev/shm)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.support.nosem import build_nosem_shim, nosem_env

JOB = textwrap.dedent(
    """
    import os

    from durable_mp import durable_execution


    @durable_execution
    def handler(event, ctx):
        pids = [ctx.step(lambda _: os.getpid(), name=f"s{i}") for i in range(4)]
        return {"parent": os.getpid(), "steps": pids}
    """
)


def test_process_mode_without_semaphores(tmp_path):
    library = build_nosem_shim(tmp_path)
    env = nosem_env(library, dict(os.environ))
    proof = subprocess.run(
        [sys.executable, "-c", "import multiprocessing as m; m.Lock()"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proof.returncode != 0 and "Function not implemented" in proof.stderr

    job = tmp_path / "job.py"
    job.write_text(JOB)
    result = subprocess.run(
        [sys.executable, "-m", "durable_mp", "run", f"{job}:handler", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.strip().splitlines()[-1])
    value = json.loads(output["Result"])
    assert all(pid != value["parent"] for pid in value["steps"])
