"""One runner per execution: leases, who is provably gone, and takeovers.

In one process (two drives on one service, on both stores) and in two (LocalRunner
processes on one SQLite file, the owner SIGSTOPped until its lease expires).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from local_helpers import Driver, step_start

from durable_mp.lambda_service import OperationUpdate
from durable_mp.local import ExecutionOwnedError, LocalRunner, LocalService
from durable_mp.local.owners import Owner, describe, is_gone

if TYPE_CHECKING:
    from pathlib import Path


def blocking_handler(release: threading.Event, started: threading.Event) -> Any:
    def handler(event: Any, context: Any) -> dict[str, Any]:
        started.set()
        assert release.wait(30)
        return {"Status": "SUCCEEDED", "Result": '"done"'}

    return handler


def test_a_second_drive_is_refused_while_the_first_one_runs(service: LocalService) -> None:
    release, started = threading.Event(), threading.Event()
    runner = LocalRunner(service, {"fn": blocking_handler(release, started)})
    arn = runner.start("fn")
    first = threading.Thread(target=runner.drive, args=(arn,))
    first.start()
    assert started.wait(30)
    owner = service.owner_of(arn)
    assert owner is not None and owner.pid == os.getpid() and owner.host == socket.gethostname()
    assert service.execution_owners() == {arn: owner}

    with pytest.raises(ExecutionOwnedError) as refused:
        runner.drive(arn)
    assert refused.value.owner == owner
    assert f"is being run by pid {os.getpid()} on " in str(refused.value)
    with pytest.raises(ExecutionOwnedError):
        service.begin_invocation(arn)  # nobody touches a live owner's invocation
    with pytest.raises(ExecutionOwnedError):
        service.recover_interrupted_invocation(arn)
    with pytest.raises(ExecutionOwnedError):
        runner.invoke_once(arn)

    waiter: list[Any] = []
    second = threading.Thread(target=lambda: waiter.append(runner.drive(arn, wait=True)))
    second.start()
    time.sleep(0.5)
    assert not waiter  # it waits for the owner
    release.set()
    first.join(30)
    second.join(30)
    assert waiter[0].status == "SUCCEEDED" and waiter[0].invocation_count == 1
    assert service.owner_of(arn) is None and service.execution_owners() == {}


def test_a_gone_owner_is_told_apart_from_a_live_one() -> None:
    now = time.time()
    me = Owner.of_this_process()
    live = me.lease("arn", now, 8.0)
    assert not is_gone(live, now)
    assert is_gone(live, now + 8.0)  # expired
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert is_gone(replace(live, pid=dead.pid), now)  # the pid is dead on this machine
    assert is_gone(replace(live, process_start=live.process_start - 100), now)  # pid reused
    elsewhere = replace(live, pid=dead.pid, host="another-host")
    assert not is_gone(elsewhere, now)  # another machine: only the lease tells
    assert not is_gone(replace(live, pid=dead.pid, boot_id="another boot"), now)
    assert is_gone(elsewhere, now + 9.0)
    assert describe(live).startswith(f"pid {os.getpid()} on {socket.gethostname()} since ")


def test_taking_over_from_a_gone_owner_closes_its_invocation_as_lost(service: LocalService) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ghost = replace(Owner.of_this_process(), pid=dead.pid)  # a runner that has died
    arn = service.start_execution("fn", None).arn
    with pytest.MonkeyPatch.context() as patch:  # while it was alive
        patch.setattr("durable_mp.local.owners.is_gone", lambda lease, now: False)
        assert service.acquire_lease(arn, ghost) is None
        invocation = service.begin_invocation(arn, owner=ghost)
    service.checkpoint(
        arn,
        invocation.event.checkpoint_token,
        [OperationUpdate.from_dict(step_start("s"))],
        None,
    )
    me = Owner.of_this_process()
    assert service.acquire_lease(arn, me) is None  # its pid is dead: taken over
    lost = [e for e in service.get_history(arn) if e["EventType"] == "InvocationCompleted"]
    payload = lost[0]["InvocationCompletedDetails"]["Error"]["Payload"]
    assert payload["ErrorType"] == "Runtime.ExitError"
    assert f"pid {dead.pid} on " in payload["ErrorMessage"]
    assert service.has_work(arn)  # invoked again at once
    other = Owner.of_this_process()
    assert service.acquire_lease(arn, other) == service.owner_of(arn)  # me, alive
    assert service.renew_leases(me) == {arn}
    service.release_leases(me)
    assert service.owner_of(arn) is None


def test_an_owner_on_another_machine_is_waited_for_until_its_lease_expires(
    service: LocalService,
) -> None:
    driver = Driver(service)
    remote = replace(Owner.of_this_process(), host="another-host", pid=1)
    assert service.acquire_lease(driver.arn, remote, lease_seconds=600) is None
    me = Owner.of_this_process()
    holder = service.acquire_lease(driver.arn, me)
    assert holder is not None and holder.host == "another-host"
    with pytest.raises(ExecutionOwnedError):
        service.begin_invocation(driver.arn, owner=me)
    service.acquire_lease(driver.arn, remote, lease_seconds=-1)  # its last renewal, long ago
    assert service.acquire_lease(driver.arn, me) is None
    service.begin_invocation(driver.arn, owner=me)
    types = [e["EventType"] for e in service.get_history(driver.arn)]
    assert types.count("InvocationCompleted") == 1  # the remote one's, as lost


RUNNER = textwrap.dedent(
    """
    import json, os, sys, time
    from durable_mp import durable_execution
    from durable_mp.local import ExecutionOwnedError, LocalRunner, LocalService

    store, markers, mode = sys.argv[1:4]

    @durable_execution(step_executor="thread")
    def handler(event, ctx):
        def body(_):
            with open(os.path.join(markers, "step"), "a") as marker:
                marker.write(f"{os.getpid()}\\n")
            while not os.path.exists(os.path.join(markers, "release")):
                time.sleep(0.02)
            return os.getpid()
        return ctx.step(body, name="only")

    runner = LocalRunner(LocalService(store), {"fn": handler}, lease_seconds=1.5)
    if mode == "start":
        arn = runner.start("fn", name="contested")
        print(arn, flush=True)
    else:
        arn = sys.argv[4]
    try:
        record = runner.drive(arn, wait=mode == "wait")
    except ExecutionOwnedError as error:
        print("LOST", error, flush=True)
        sys.exit(3)
    print(json.dumps([record.status, record.result]), flush=True)
    """
)


def test_a_stopped_owner_loses_its_expired_lease_and_writes_nothing_after(
    store_path: Path, tmp_path: Path
) -> None:
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    markers = tmp_path / "markers"
    markers.mkdir()
    step = markers / "step"
    first = subprocess.Popen(
        [sys.executable, str(script), str(store_path), str(markers), "start"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert first.stdout is not None
    arn = first.stdout.readline().strip()
    deadline = time.monotonic() + 60
    while not step.exists():
        assert time.monotonic() < deadline and first.poll() is None, "the step never started"
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGSTOP)  # alive, but renews nothing
    try:
        (markers / "release").touch()
        second = subprocess.run(
            [sys.executable, str(script), str(store_path), str(markers), "wait", arn],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 0, second.stderr
        status, result = json.loads(second.stdout.strip().splitlines()[-1])
        assert status == "SUCCEEDED" and json.loads(result) != first.pid  # the second one's
        observer = LocalService(store_path)
        history = observer.get_history(arn)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, _ = first.communicate(timeout=60)
    # Woken up, it stops: its renewal finds the lease lost, or its loop finds the
    # execution ended (whichever comes first) ...
    lost = first.returncode == 3 and "lost execution" in out
    ended = first.returncode == 0 and json.loads(out.strip().splitlines()[-1]) == [status, result]
    assert lost or ended, out
    assert observer.get_history(arn) == history  # ... and writes nothing
    lost = next(e for e in history if e["EventType"] == "InvocationCompleted")
    assert lost["InvocationCompletedDetails"]["Error"]["Payload"]["ErrorType"] == "Runtime.ExitError"
    assert len(step.read_text().split()) == 2
    observer.close()


def test_a_lease_taken_while_the_renewal_runs_is_not_taken_for_lost(
    service: LocalService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drive loop takes a child's lease between the renewal's write and its check."""
    from durable_mp.local.leases import DriveLeases

    root = service.start_execution("fn", None).arn
    child = service.start_execution("fn", None).arn
    lost: list[Exception] = []
    leases = DriveLeases(service, 8.0, lost.append)
    assert leases.take_root(root, wait=False) is None
    renew = service.renew_leases

    def renew_while_the_loop_takes_a_child(owner: Owner, **options: Any) -> set[str]:
        held = renew(owner, **options)
        assert leases.hold(child)
        return held

    monkeypatch.setattr(service, "renew_leases", renew_while_the_loop_takes_a_child)
    assert leases.renew_once() and lost == []
    monkeypatch.setattr(service, "renew_leases", renew)
    service.release_leases(leases.owner, [child])  # as if another runner had taken it
    assert not leases.renew_once()
    assert isinstance(lost[0], ExecutionOwnedError) and child in str(lost[0])
