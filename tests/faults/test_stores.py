"""Stores that are not, or no longer, what the campaign's command needs
(:mod:`tests.faults.stores`), and a disk that fills up under it
(:mod:`tests.faults.full_disk`)."""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.faults.stores import (
    DAMAGES,
    answers,
    damaged,
    files,
    foreign_database,
    half_done_store,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def half_done(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return half_done_store(tmp_path_factory.mktemp("half"))


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_store_is_refused_in_one_line_and_left_as_it_was(
    tmp_path: Path, half_done: Path, how: str
) -> None:
    folder = tmp_path / "disk"
    folder.mkdir()
    store = folder / "runs.db"
    store.write_bytes(damaged(half_done, how))
    for answer in answers(store, tmp_path):
        if answer.command == "list" and answer.exit_code == 0:
            continue  # what it reads is intact (a reader's -wal/-shm files stay)
        assert answer.one_line, answer
        if how == "header-wiped":  # nothing left that says it was ours
            assert "not a durable-mp store" in answer.line, answer
        else:
            assert f"{store} is damaged" in answer.line, answer
            assert "restore it from a copy" in answer.line, answer
            assert "intact" not in answer.line, answer  # it is not
        # (a run that opened it to write, and found the damage later, may leave -wal/-shm)
        if answer.command != "run" or how != "events-overwritten":
            assert answer.unchanged, answer


def test_a_foreign_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    store = tmp_path / "app.db"
    foreign_database(store)
    for answer in answers(store, tmp_path / "elsewhere"):
        assert answer.one_line and answer.exit_code == 2, answer
        assert "not a durable-mp store" in answer.line, answer
        assert answer.unchanged, answer


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
