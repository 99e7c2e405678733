"""The worker pool starts while a handler module is imported, unless told not to.

Each case runs in a fresh interpreter: the pool is one per process, started at most once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(120)

PROBE = textwrap.dedent(
    """
    import json, sys, time
    from durable_mp import durable_execution
    from durable_mp.workers import pool as shared

    def pool_after(seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pool = shared.shared_pool()
            if pool is not None and pool.worker_pids():
                return pool
            time.sleep(0.02)
        return shared.shared_pool()

    imported = pool_after(float(sys.argv[2]))
    seen = {"at_import": imported is not None}
    zygote = imported.zygote_pid if imported is not None else None

    @durable_execution(step_executor=sys.argv[1] or None)
    def handler(event, ctx):
        return ctx.step(lambda _: 1)

    deadline = time.monotonic() + float(sys.argv[3])  # a pool stood down goes within it
    while shared.shared_pool() is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    after = shared.shared_pool()
    seen["after_decorating"] = after is not None and not after.closed
    seen["same_pool"] = after is imported
    seen["zygote"] = zygote
    print(json.dumps(seen), flush=True)
    """
)


def probe(
    tmp_path: Path, executor: str, wait: float, settle: float, **env: str
) -> dict[str, object]:
    """Decorate a handler using ``executor``: was a pool started within ``wait`` seconds of
    the import, and is there one ``settle`` seconds after the decoration?"""
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_MP_")}
    done = subprocess.run(
        [sys.executable, str(script), executor, str(wait), str(settle)],
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_importing_the_decorator_starts_the_pool_and_a_process_handler_keeps_it(
    tmp_path: Path,
) -> None:
    seen = probe(tmp_path, "", 30, 1.0)
    assert seen["at_import"] is True
    assert seen["after_decorating"] is True and seen["same_pool"] is True


def test_a_handler_whose_steps_run_on_threads_stands_the_pool_down(tmp_path: Path) -> None:
    seen = probe(tmp_path, "thread", 30, 30)
    assert seen["at_import"] is True  # started in anticipation
    assert seen["after_decorating"] is False  # and shut down once the handler said so


@pytest.mark.parametrize(
    "env",
    [{"DURABLE_MP_INIT_WORKERS": "0"}, {"DURABLE_MP_STEP_EXECUTOR": "thread"}],
    ids=["opted out", "threads by environment"],
)
def test_nothing_starts_when_told_not_to(tmp_path: Path, env: dict[str, str]) -> None:
    seen = probe(tmp_path, "", 1.0, 0, **env)
    assert seen == {
        "at_import": False,
        "after_decorating": False,
        "same_pool": True,
        "zygote": None,
    }


HANDLER = textwrap.dedent(
    """
    from durable_mp import durable_execution
    from durable_mp.workers import pool as shared


    @durable_execution
    def handler(event, ctx):
        return ctx.step(lambda _: shared.shared_pool() is None, name="probe")
    """
)


def test_durable_mp_run_with_thread_steps_starts_no_pool(tmp_path: Path) -> None:
    """The command line's --executor overrides the handler's (process) choice, so the
    handler's import must not start a pool the run will never use."""
    (tmp_path / "job.py").write_text(HANDLER)
    done = subprocess.run(
        [sys.executable, "-m", "durable_mp", "run", f"{tmp_path / 'job.py'}:handler",
         "--executor", "thread", "--json"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout.strip().splitlines()[-1])
    assert json.loads(output["Result"]) is True


def test_a_program_that_ends_while_the_fork_server_boots_says_nothing_of_it() -> None:
    """The fork server started for it finds its pool gone: it ends without a word."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_MP_")}
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", "import durable_mp.execution"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0 and done.stderr == "" and done.stdout == ""
