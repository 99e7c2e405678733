"""Stores that are not, or no longer, what the campaign's command needs.

The identical command of the campaign (``run``), and ``list`` and ``history``, given a
SQLite file of another application, or the campaign's own store damaged while its
execution was half done: truncated, the header wiped, the ``events`` table's page
overwritten (found only when the run reads its history). Each answer is judged
(:class:`Answer`): one error line, no traceback, and the files as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.faults.campaign import NAME, WORKFLOW, Kill, cli, stop_once

if TYPE_CHECKING:
    from pathlib import Path

PAGE = 4096
DAMAGES = ("truncated", "header-wiped", "events-overwritten")


def half_done_store(workdir: Path) -> Path:
    """The campaign's store, its execution SIGKILLed half way, all in the main file."""
    store = stop_once(3, workdir, Kill(0.1, "group", step="summary-a")).store
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return store


def damaged(store: Path, how: str) -> bytes:
    data = store.read_bytes()
    if how == "truncated":
        return data[: len(data) // 2 + 100]
    if how == "header-wiped":
        return b"\0" * 100 + data[100:]
    if how == "events-overwritten":
        with sqlite3.connect(store) as db:
            (root,) = db.execute(
                "SELECT rootpage FROM sqlite_master WHERE name = 'events'"
            ).fetchone()
        at = (root - 1) * PAGE
        return data[:at] + os.urandom(PAGE) + data[at + PAGE :]
    raise ValueError(how)


def foreign_database(path: Path) -> None:
    """Another application's SQLite file, with a table named like one of ours."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE executions (id INTEGER PRIMARY KEY, what TEXT)")
        db.execute("PRAGMA user_version = 42")


def files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


@dataclass
class Answer:
    command: str  # run, list or history
    exit_code: int
    line: str  # the error line (empty if it succeeded)
    lines: int  # error lines (must be 1 when it failed)
    traceback: bool
    unchanged: bool  # the folder's files as they were before it

    @property
    def one_line(self) -> bool:
        return self.exit_code in (1, 2) and self.lines == 1 and not self.traceback


def answers(store: Path, workdir: Path) -> list[Answer]:
    """Run ``run``, ``list`` and ``history`` on ``store``, one after another."""
    env = {**os.environ, "FAULT_MARKERS": str(workdir / "markers"),
           "FAULT_CALLBACK_FILE": str(workdir / "callback")}
    argvs = {
        "run": cli("run", f"{WORKFLOW}:handler", "--input", json.dumps({"seed": 3}),
                   "--store", str(store), "--name", NAME, "--json"),
        "list": cli("list", "--store", str(store)),
        "history": cli("history", NAME, "--store", str(store)),
    }
    found = []
    for command, argv in argvs.items():
        before = files(store.parent)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
        errors = [line for line in done.stderr.splitlines() if line.startswith("durable-mp ")]
        found.append(Answer(
            command=command,
            exit_code=done.returncode,
            line=errors[-1] if errors else "",
            lines=len(errors),
            traceback="Traceback" in done.stderr,
            unchanged=files(store.parent) == before,
        ))
    return found
