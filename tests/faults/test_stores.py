"""Stores that are not, or no longer, what the campaign's command needs.

The identical command of the campaign, given a SQLite file of another application, or its
own store damaged while an execution was half done (truncated, a page overwritten, the
header wiped): one line that says what is wrong and what to do, no traceback, and the
file left as it was (no ``-wal``/``-shm`` files added). ``list`` and ``history`` too.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.faults.campaign import NAME, WORKFLOW, Kill, cli, stop_once

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

PAGE = 4096


def half_done_store(tmp_path: Path) -> Path:
    """The campaign's store, its execution SIGKILLed half way."""
    rig = stop_once(3, tmp_path / "campaign", Kill(0.1, "group", step="summary-a"))
    return rig.store


def damaged(store: Path, how: str) -> bytes:
    data = store.read_bytes()
    if how == "truncated":
        return data[: len(data) // 2 + 100]
    if how == "header-wiped":
        return b"\0" * 100 + data[100:]
    if how == "events-overwritten":  # found when the run reads its history
        with sqlite3.connect(store) as db:
            (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'"
                                 ).fetchone()
        at = (root - 1) * PAGE
        return data[:at] + os.urandom(PAGE) + data[at + PAGE :]
    raise ValueError(how)


def files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def commands(store: Path) -> dict[str, list[str]]:
    run = cli("run", f"{WORKFLOW}:handler", "--input", json.dumps({"seed": 3}), "--store",
              str(store), "--name", NAME, "--json")
    return {
        "run": run,
        "list": cli("list", "--store", str(store)),
        "history": cli("history", NAME, "--store", str(store)),
    }


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line (a run may have said what it was starting before it)."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("durable-mp ")]
    assert result.returncode in (1, 2), (result.returncode, result.stderr)
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().endswith(errors[0]), result.stderr
    return errors[0]


@pytest.fixture(scope="module")
def half_done(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = half_done_store(tmp_path_factory.mktemp("half"))
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    return path


@pytest.mark.parametrize("how", ["truncated", "header-wiped", "events-overwritten"])
def test_a_damaged_store_is_refused_in_one_line_and_left_as_it_was(
    tmp_path: Path, half_done: Path, how: str
) -> None:
    folder = tmp_path / "disk"
    folder.mkdir()
    store = folder / "runs.db"
    store.write_bytes(damaged(half_done, how))
    before = files(folder)
    env = {**os.environ, "FAULT_MARKERS": str(tmp_path / "m"),
           "FAULT_CALLBACK_FILE": str(tmp_path / "c")}
    for command, argv in commands(store).items():
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
        if command == "list" and result.returncode == 0:
            before = files(folder)  # what it reads is intact (a reader's -wal/-shm stay)
            continue
        line = one_line(result)
        if how == "header-wiped":  # nothing left that says it was ours
            assert "not a durable-mp store" in line, line
        else:
            assert f"{store} is damaged" in line and "restore it from a copy" in line, line
            assert "intact" not in line, line  # it is not
        if command == "run" and how == "events-overwritten":  # opened to write, then found
            before = files(folder)
        assert files(folder) == before, (command, line)


def test_a_foreign_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    store = tmp_path / "app.db"
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE executions (id INTEGER PRIMARY KEY, what TEXT)")
        db.execute("PRAGMA user_version = 42")
    before = files(tmp_path)
    for command, argv in commands(store).items():
        line = one_line(subprocess.run(argv, capture_output=True, text=True, timeout=120))
        assert "not a durable-mp store" in line, (command, line)
        assert files(tmp_path) == before, command


def test_the_library_names_a_damaged_store(tmp_path: Path, half_done: Path) -> None:
    from durable_mp.local import LocalService, StoreDamagedError

    store = tmp_path / "runs.db"
    store.write_bytes(damaged(half_done, "truncated"))
    before = files(tmp_path)
    with pytest.raises(StoreDamagedError, match=r"is damaged .*it was left as it was"):
        LocalService(store)
    assert files(tmp_path) == before


@pytest.mark.parametrize("kilobytes", [64, 1200])
def test_a_disk_that_fills_up_then_grows(tmp_path: Path, kilobytes: int) -> None:
    """The store on a small tmpfs of a private mount namespace (root, ``unshare -m``):
    64 KB fill up while the store is created, 1.2 MB half way through the run. The run
    stops with one line (exit 1, not a usage error), the tmpfs grows, and the identical
    command finishes; nothing completed runs again."""
    import sys

    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-m",
         "tests.faults.full_disk", str(tmp_path), str(kilobytes)],
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0 and done.stdout.strip(), (
        "needs root and mount namespaces (unshare -m) to mount a small tmpfs: " + done.stderr
    )
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["ok"], outcome["summary"]
    assert outcome["full"], outcome
    (stop,) = outcome["stops"]
    assert stop["exit"] == 1 and not stop["traceback"] and not stop["integrity"], stop
    if kilobytes == 64:
        assert "cannot be opened: database or disk is full; fix that" in stop["last_line"]
    else:
        assert "the execution is intact" in stop["last_line"], stop
        assert stop["steps_done"], stop  # it was stopped half way, not at the start
