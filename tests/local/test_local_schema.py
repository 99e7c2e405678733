"""The store refuses what is not its own, migrates its own older files, stays private,
and reads where it may not write.

Real SQLite files; stores made by older durable-mps (``data/store_v1.db`` by commit
3c7cff1, schema 1; ``data/store_v2.db`` by commit df12e9c, schema 2; see
``data/make_store_v*.py``); a read-only bind mount inside a mount namespace; another
user (``nobody``) reading root's store.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from durable_mp.local import LocalRunner, LocalService
from durable_mp.local.schema import APPLICATION_ID, SCHEMA_VERSION, read_only_connection
from durable_mp.local.store import NotAStoreError, StoreReadOnlyError

DATA = Path(__file__).parent / "data"
NOBODY = 65534


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "durable_mp", *args]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def header_application_id(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[68:72], "big")


def pragmas(path: Path) -> tuple[int, int, set[str]]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (application_id,) = connection.execute("PRAGMA application_id").fetchone()
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        tables = {n for (n,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        connection.close()
    return application_id, version, tables


def make_sqlite(path: Path, *statements: str, wal: bool = False) -> None:
    connection = sqlite3.connect(path)
    if wal:
        connection.execute("PRAGMA journal_mode = WAL")
    for statement in statements:
        connection.execute(statement)
    connection.commit()
    connection.close()


def newer_store(path: Path) -> None:
    LocalService(path).close()
    make_sqlite(path, "PRAGMA user_version = 99")


FOREIGN = {
    "text file": lambda path: path.write_text("not a database\n"),
    "foreign tables": lambda path: make_sqlite(path, "CREATE TABLE notes (body TEXT)"),
    "our table names, another user_version": lambda path: make_sqlite(
        path, "CREATE TABLE executions (x)", "PRAGMA user_version = 42"
    ),
    "another user_version": lambda path: make_sqlite(path, "PRAGMA user_version = 42"),
    "another application_id": lambda path: make_sqlite(
        path, "PRAGMA application_id = 7", "CREATE TABLE t (x)"
    ),
    "a WAL database of another application": lambda path: make_sqlite(
        path, "CREATE TABLE notes (body TEXT)", wal=True
    ),
    "a store of a newer durable-mp": newer_store,
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_a_file_that_is_not_a_store_is_refused_and_left_as_it_was(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    FOREIGN[kind](path)
    before, listing = digest(path), sorted(os.listdir(tmp_path))
    with pytest.raises(NotAStoreError):
        LocalService(path)
    with pytest.raises(NotAStoreError):
        LocalService(path, read_only=True)
    job = tmp_path / "job.py"
    job.write_text("def handler(event, context):\n    return 1\n")
    listing.append("job.py")
    commands = [["run", f"{job}:handler", "--store", str(path)], ["list", "--store", str(path)]]
    if kind == "foreign tables":  # every command opens stores the same two ways
        commands += [
            ["history", "x", "--store", str(path)],
            ["stop", "x", "--store", str(path)],
            ["callback", "heartbeat", "x", "--store", str(path)],
        ]
    for command in commands:
        result = subprocess.run(cli(*command), capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, (command, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "not a durable-mp store" in result.stderr or "newer version" in result.stderr
        assert "left as it was" in result.stderr and result.stdout == ""
    assert digest(path) == before
    assert sorted(os.listdir(tmp_path)) == sorted(listing)  # no -wal, -shm or -journal


def test_a_new_store_is_marked_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    LocalService(path).close()
    assert header_application_id(path) == APPLICATION_ID  # in the file's header itself
    application_id, version, tables = pragmas(path)
    assert (application_id, version) == (APPLICATION_ID, SCHEMA_VERSION)
    assert {"executions", "operations", "events", "leases"} <= tables
    empty = tmp_path / "empty.db"
    make_sqlite(empty)  # an empty SQLite database becomes a store
    LocalService(empty).close()
    assert pragmas(empty)[:2] == (APPLICATION_ID, SCHEMA_VERSION)


OLDER_STORES = {  # fixture -> (application_id, user_version, tables it lacks)
    "store_v1.db": (0, 1, {"leases", "body_runs"}),
    "store_v2.db": (APPLICATION_ID, 2, {"body_runs"}),
}


def test_the_schema_is_version_3_with_body_runs() -> None:
    from durable_mp.local.schema import MIGRATIONS

    assert SCHEMA_VERSION == 3 == len(MIGRATIONS)
    assert "CREATE TABLE IF NOT EXISTS body_runs" in MIGRATIONS[2]  # version 2 -> 3


@pytest.mark.parametrize("fixture", sorted(OLDER_STORES))
def test_an_older_store_is_read_as_it_is_and_migrated_when_written(
    fixture: str, tmp_path: Path
) -> None:
    path = tmp_path / "runs.db"
    shutil.copyfile(DATA / fixture, path)
    application_id, version, lacking = OLDER_STORES[fixture]
    assert pragmas(path)[:2] == (application_id, version)
    assert not lacking & pragmas(path)[2]
    before = digest(path)

    listing = subprocess.run(cli("list", "--store", str(path)), capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert [line.split()[:2] for line in listing.stdout.splitlines()] == [
        ["done", "SUCCEEDED"],
        ["half", "RUNNING"],
    ]
    history = subprocess.run(
        cli("history", "done", "--store", str(path), "--json"), capture_output=True, text=True, timeout=60
    )
    assert history.returncode == 0, history.stderr
    done_history = json.loads(history.stdout)
    reader = LocalService(path, read_only=True)  # what it lacks reads as empty
    try:
        half_arn = reader.find_execution("half").arn
        assert reader.body_runs(half_arn) == []
        assert reader.execution_owners() == {}  # its runner died (v2), or none was recorded
    finally:
        reader.close()
    assert digest(path) == before  # reading never migrates

    service = LocalService(path)  # a writer migrates
    assert pragmas(path)[:2] == (APPLICATION_ID, SCHEMA_VERSION)
    assert {"leases", "body_runs"} <= pragmas(path)[2]
    from durable_mp.local import history_to_json

    arn = service.find_execution("done").arn
    assert history_to_json(service.get_history(arn)) == done_history
    sys.path.insert(0, str(DATA))
    try:
        from v1_job import handler
    finally:
        sys.path.remove(str(DATA))
    half = service.find_execution("half")
    record = LocalRunner(service, {"job": handler}).drive(half.arn)
    assert record.status == "SUCCEEDED" and json.loads(record.result) == 33  # 3 + 30
    completions = [
        e["InvocationCompletedDetails"] for e in service.get_history(half.arn) if e["EventType"] == "InvocationCompleted"
    ]
    assert completions[0]["Error"]["Payload"]["ErrorType"] == "Runtime.ExitError"
    names = {op.operation_id: op.name for op in service.get_operations(half.arn)}
    runs = service.body_runs(half.arn)  # recorded from the resume on, in the new table
    assert [(names[run.op_id], run.attempt, run.executor) for run in runs] == [
        ("second", 1, "inline"),
        ("third", 1, "inline"),
    ]
    assert service.body_runs(arn) == []  # ``done`` ran before there was a table for it
    service.close()
    LocalService(path).close()  # opening a current store again changes nothing
    assert pragmas(path)[:2] == (APPLICATION_ID, SCHEMA_VERSION)


@pytest.mark.parametrize("fixture", sorted(OLDER_STORES))
def test_a_long_lived_reader_sees_the_tables_a_writer_adds_to_an_older_store(
    fixture: str, tmp_path: Path
) -> None:
    """The console keeps its read-only store open while runs go on: a run that migrates
    the store meanwhile must not stay hidden behind the reader's stand-in tables."""
    path = tmp_path / "runs.db"
    shutil.copyfile(DATA / fixture, path)
    reader = LocalService(path, read_only=True)
    try:
        half = reader.find_execution("half").arn
        assert reader.body_runs(half) == [] and reader.execution_owners() == {}
        sys.path.insert(0, str(DATA))
        try:
            from v1_job import handler
        finally:
            sys.path.remove(str(DATA))
        writer = LocalService(path)  # migrates the store to the current version
        try:
            owners_while_running: list[Any] = []
            runner = LocalRunner(writer, {"job": handler})
            writer.add_listener(
                lambda arn, event: owners_while_running.append(reader.owner_of(arn))
                if event["EventType"] == "StepSucceeded"
                else None
            )
            assert runner.drive(half).status == "SUCCEEDED"
        finally:
            writer.close()
        assert [run.attempt for run in reader.body_runs(half)] == [1, 1]  # second, third
        assert any(lease is not None and lease.pid == os.getpid() for lease in owners_while_running)
    finally:
        reader.close()


def test_a_store_readable_by_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    service = LocalService(path)
    service.start_execution("fn", None, name="x")
    companions = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    assert all(p.exists() for p in companions)
    for p in companions:
        os.chmod(p, 0o644)
    again = LocalService(path)
    assert [stat.S_IMODE(p.stat().st_mode) for p in companions] == [0o600] * 3
    again.close()
    service.close()


def test_a_read_only_store_refuses_changes(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    LocalService(path).close()
    reader = LocalService(path, read_only=True)
    assert reader.list_executions() == []
    with pytest.raises(StoreReadOnlyError):
        reader.start_execution("fn", None)
    reader.close()


def _job_store(directory: Path) -> Path:
    """A store holding one finished execution, closed (no -wal/-shm left)."""
    from durable_mp import durable_execution

    @durable_execution(step_executor="inline")
    def job(event, ctx):
        return ctx.step(lambda _: "done", name="only")

    path = directory / "runs.db"
    service = LocalService(path)
    assert LocalRunner(service, {"job": job}).run("job", name="finished").status == "SUCCEEDED"
    service.close()
    assert not Path(f"{path}-wal").exists()
    return path


def test_list_and_history_work_on_a_read_only_mount(tmp_path: Path) -> None:
    store_dir = tmp_path / "ro"
    store_dir.mkdir()
    path = _job_store(store_dir)
    os.chmod(path, 0o644)  # looser than it should be: the warning says why it stays so
    job = tmp_path / "job.py"
    job.write_text("def handler(event, context):\n    return 1\n")
    script = textwrap.dedent(
        f"""
        set -e
        mount --bind {store_dir} {store_dir}
        mount -o remount,bind,ro {store_dir}
        {sys.executable} -m durable_mp list --store {path} > {tmp_path}/list.out 2> {tmp_path}/list.err
        {sys.executable} -m durable_mp history finished --store {path} > {tmp_path}/history.out 2> {tmp_path}/history.err
        set +e
        {sys.executable} -m durable_mp run {job}:handler --store {path} > /dev/null 2> {tmp_path}/run.err
        echo $? > {tmp_path}/run.status
        """
    )
    result = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        "needs root and mount namespaces (unshare -m) to make a read-only mount: "
        + result.stderr
        + (tmp_path / "list.err").read_text() * (tmp_path / "list.err").exists()
    )
    assert (tmp_path / "list.out").read_text().split()[:2] == ["finished", "SUCCEEDED"]
    warning = (tmp_path / "list.err").read_text().strip().splitlines()
    assert len(warning) == 1 and "cannot be made private" in warning[0], warning
    assert "StepSucceeded" in (tmp_path / "history.out").read_text()
    assert (tmp_path / "run.status").read_text().strip() == "2"
    run_error = (tmp_path / "run.err").read_text().strip().splitlines()
    assert "cannot be opened" in run_error[-1] and "Traceback" not in "".join(run_error)


def test_list_and_history_work_on_another_users_store(tmp_path: Path) -> None:
    shared = Path("/tmp") / f"durable-mp-shared-{os.getpid()}"
    shared.mkdir(mode=0o755)
    try:
        path = _job_store(shared)
        os.chmod(path, 0o644)  # root's store, that others may read
        as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        listing = subprocess.run(
            [*as_nobody, *cli("list", "--store", str(path))], capture_output=True, text=True, timeout=60
        )
        assert listing.returncode == 0, "running as nobody (setpriv, root only): " + listing.stderr
        assert listing.stdout.split()[:2] == ["finished", "SUCCEEDED"]
        assert "cannot be made private" in listing.stderr  # one warning: it is not ours
        history = subprocess.run(
            [*as_nobody, *cli("history", "finished", "--store", str(path))], capture_output=True, text=True, timeout=60
        )
        assert history.returncode == 0 and "StepSucceeded" in history.stdout, history.stderr
    finally:
        shutil.rmtree(shared)


LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    connection = sqlite3.connect(sys.argv[1], isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("UPDATE executions SET status = status")
    print("locked", flush=True)
    sys.stdin.readline()
    connection.execute("COMMIT")
    """
)


def test_list_does_not_wait_for_another_process_that_holds_the_write_lock(tmp_path: Path) -> None:
    path = _job_store(tmp_path)
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout.readline().strip() == "locked"
        for command in (["list", "--store", str(path)], ["history", "finished", "--store", str(path)]):
            result = subprocess.run(cli(*command), capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
        assert locker.poll() is None  # it still holds the lock: nobody waited for it
    finally:
        locker.communicate("go\n", timeout=30)
    assert locker.returncode == 0


def test_a_reader_waits_for_a_writer_that_holds_the_exclusive_lock(tmp_path: Path) -> None:
    """A store being created is in rollback mode until its writer switches it to WAL; a
    reader arriving then must wait for the lock, never read the file unlocked."""
    path = tmp_path / "runs.db"
    LocalService(path).close()
    make_sqlite(path, "PRAGMA journal_mode = DELETE")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute(
        "INSERT INTO executions VALUES"
        " ('arn', 'late', 'fn', 'op', 'RUNNING', NULL, NULL, NULL, 0, NULL, 60,"
        " 0, 0, 0, 0, 0, 0, 0, 0, NULL, 0)"
    )
    names: list[Any] = []

    def read() -> None:
        try:
            connection = read_only_connection(str(path))
            names.append([n for (n,) in connection.execute("SELECT name FROM executions")])
        except Exception as error:
            names.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(5.5)  # longer than sqlite3.connect's default busy timeout
    assert reader.is_alive() and names == []  # it waits for the lock ...
    writer.execute("COMMIT")
    writer.close()
    reader.join(30)
    assert names == [["late"]]  # ... and then reads what was committed
