"""What makes a SQLite file a durable-mp store, and how an older store is brought up to date.

A store is marked with SQLite's ``application_id`` (:data:`APPLICATION_ID`, "DMPS") and
numbers its schema in ``user_version``. Opening a file that is not a store refuses it
before anything is written, so a database of another application is left byte for byte
as it was: an unknown ``application_id``, an unknown ``user_version``, or tables that
are not ours. The first stores (``user_version`` 1, no ``application_id``) are
recognized by their tables.

``MIGRATIONS[n]`` takes a store from version ``n`` to ``n + 1``, inside the write
transaction that opens it (whoever opens it first migrates it; the others find it done).
A migration only adds: tables, indexes, columns with defaults. A reader that may not
write (a read-only mount, another user's file) still reads an older store: the tables
it lacks are stood in for by empty temporary ones.

Version history: 1, the first schema; 2, ``leases`` (who drives each execution); 3,
``body_runs`` (where and when each attempt's body ran: durable-mp's own metadata, beside
the AWS-format history, that the console draws as worker lanes).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from typing import TYPE_CHECKING

from durable_mp.local.store import NotAStoreError, damaged, is_damage, sqlite_result_code

if TYPE_CHECKING:
    from collections.abc import Iterator

APPLICATION_ID = 0x444D5053  # "DMPS"
BUSY_TIMEOUT_SECONDS = 30.0  # how long anyone waits for another process's lock
SCHEMA_VERSION = 3
_HEADER = b"SQLite format 3\x00"
_APPLICATION_ID_OFFSET = 68

_VERSION_1 = """
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    function_name TEXT NOT NULL,
    execution_op_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input_payload TEXT,
    result TEXT,
    error TEXT,
    start_ts REAL NOT NULL,
    end_ts REAL,
    timeout_s INTEGER NOT NULL,
    invocation_count INTEGER NOT NULL,
    version INTEGER NOT NULL,
    op_count INTEGER NOT NULL,
    event_count INTEGER NOT NULL,
    token_seq INTEGER NOT NULL,
    seen_version INTEGER NOT NULL,
    begin_version INTEGER NOT NULL,
    failed_attempts INTEGER NOT NULL,
    retry_at REAL,
    closing INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS operations (
    arn TEXT NOT NULL,
    op_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    version INTEGER NOT NULL,
    op_type TEXT NOT NULL,
    status TEXT NOT NULL,
    due_ts REAL,
    body TEXT NOT NULL,
    PRIMARY KEY (arn, op_id)
);
CREATE INDEX IF NOT EXISTS operations_by_position ON operations (arn, position);
CREATE INDEX IF NOT EXISTS operations_by_due ON operations (arn, due_ts);
CREATE INDEX IF NOT EXISTS operations_by_version ON operations (arn, version);
CREATE TABLE IF NOT EXISTS events (
    arn TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (arn, event_id)
);
CREATE TABLE IF NOT EXISTS invocations (
    arn TEXT NOT NULL,
    request_id TEXT NOT NULL,
    started_ts REAL NOT NULL,
    ended_ts REAL,
    error TEXT,
    PRIMARY KEY (arn, request_id)
);
CREATE INDEX IF NOT EXISTS open_invocations ON invocations (arn, ended_ts);
CREATE TABLE IF NOT EXISTS tokens (
    arn TEXT NOT NULL,
    seq INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (arn, seq)
);
CREATE TABLE IF NOT EXISTS callbacks (
    callback_id TEXT PRIMARY KEY,
    arn TEXT NOT NULL,
    op_id TEXT NOT NULL,
    timeout_ts REAL,
    heartbeat_s INTEGER NOT NULL,
    heartbeat_ts REAL
);
CREATE INDEX IF NOT EXISTS callbacks_by_execution ON callbacks (arn);
CREATE TABLE IF NOT EXISTS chained_invokes (
    arn TEXT NOT NULL,
    op_id TEXT NOT NULL,
    function_name TEXT NOT NULL,
    child_arn TEXT,
    payload TEXT,
    tenant_id TEXT,
    PRIMARY KEY (arn, op_id)
);
CREATE INDEX IF NOT EXISTS chained_invokes_by_child ON chained_invokes (child_arn);
CREATE TABLE IF NOT EXISTS checkpoint_replies (
    arn TEXT PRIMARY KEY,
    client_token TEXT NOT NULL,
    inbound_token TEXT NOT NULL,
    reply TEXT NOT NULL
);
"""

_VERSION_2 = """
CREATE TABLE IF NOT EXISTS leases (
    arn TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    pid_namespace TEXT NOT NULL,
    process_start REAL NOT NULL,
    acquired_ts REAL NOT NULL,
    renewed_ts REAL NOT NULL,
    expires_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_by_owner ON leases (owner_id);
"""

_VERSION_3 = """
CREATE TABLE IF NOT EXISTS body_runs (
    arn TEXT NOT NULL,
    op_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    executor TEXT NOT NULL,
    pid INTEGER NOT NULL,
    thread TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    PRIMARY KEY (arn, op_id, attempt)
);
"""

# MIGRATIONS[n]: version n -> n + 1. Each is idempotent (IF NOT EXISTS), so a first store
# that lacks one of its tables is completed by running version 1 again before the rest.
MIGRATIONS: tuple[str, ...] = (_VERSION_1, _VERSION_2, _VERSION_3)
assert len(MIGRATIONS) == SCHEMA_VERSION

_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")
_OUR_TABLES = frozenset(_CREATE_TABLE.findall("".join(MIGRATIONS)))


def check_file(path: str) -> None:
    """Raise :class:`NotAStoreError` unless ``path`` (which exists) is a durable-mp store
    of a version this code knows, or an empty database; write nothing to it."""
    with open(path, "rb") as source:
        header = source.read(100)
    if not header:
        return  # an empty file: a new store
    if header.startswith(_HEADER):  # else SQLite says what it is (under its locks)
        application_id = int.from_bytes(
            header[_APPLICATION_ID_OFFSET : _APPLICATION_ID_OFFSET + 4], "big", signed=True
        )
        if application_id not in (0, APPLICATION_ID):
            raise NotAStoreError(
                f"{path} is a SQLite database of another application (application_id "
                f"{application_id:#x}), not a durable-mp store"
            )
    with _probe(path) as probe:
        check_identity(path, *_identity(probe))


def check_identity(path: str, application_id: int, version: int, tables: set[str]) -> None:
    """The rules of :func:`check_file`, given what the database says of itself."""
    if application_id == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            raise NotAStoreError(
                f"{path} is a durable-mp store of a newer version (schema {version}; this "
                f"durable-mp reads up to {SCHEMA_VERSION}): upgrade durable-mp to use it"
            )
        return
    if application_id != 0:
        raise NotAStoreError(
            f"{path} is a SQLite database of another application (application_id "
            f"{application_id:#x}), not a durable-mp store"
        )
    if not tables and version == 0:
        return  # an empty database
    if version == 1 and "executions" in tables and tables <= _OUR_TABLES:
        return  # a first store, from before stores were marked
    foreign = sorted(tables - _OUR_TABLES) or sorted(tables)
    shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
    what = f"user_version {version}, tables {shown}" if tables else f"user_version {version}"
    raise NotAStoreError(f"{path} is a SQLite database but not a durable-mp store ({what})")


def migrate(connection: sqlite3.Connection, path: str) -> None:
    """Create or update the schema, inside the caller's write transaction."""
    application_id, version, tables = _identity(connection)
    check_identity(path, application_id, version, tables)
    if version == SCHEMA_VERSION and application_id == APPLICATION_ID:
        return
    if version == 1:
        version = 0  # run version 1 again first: it completes a first store's tables
    for script in MIGRATIONS[version:]:
        for statement in _statements(script):
            connection.execute(statement)
    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def stand_in_for_missing(connection: sqlite3.Connection) -> None:
    """For a reader of an older store that may not migrate it: empty temporary tables in
    place of the ones later versions added (so their queries find nothing)."""
    _, version, tables = _identity(connection)
    for script in MIGRATIONS[version:]:
        for statement in _statements(script):
            created = _CREATE_TABLE.match(statement)
            if created is not None and created.group(1) not in tables:
                connection.execute(statement.replace("CREATE TABLE", "CREATE TEMP TABLE", 1))


def retire_stand_ins(connection: sqlite3.Connection, version: int) -> int:
    """A writer may migrate the store under a long-lived reader (the console): once its
    version is above ``version``, drop the stand-ins whose real tables exist now (a
    temporary table hides the store's table of the same name). Returns the version now."""
    (now,) = connection.execute("PRAGMA user_version").fetchone()
    if now <= version:
        return version
    _, _, tables = _identity(connection)
    temporary = connection.execute("SELECT name FROM sqlite_temp_master WHERE type = 'table'")
    for (name,) in temporary.fetchall():
        if name in tables:
            connection.execute(f"DROP TABLE temp.{name}")
    return int(now)


def _identity(connection: sqlite3.Connection) -> tuple[int, int, set[str]]:
    (application_id,) = connection.execute("PRAGMA application_id").fetchone()
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    tables = {
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    return int(application_id), int(version), tables


def _statements(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]


@contextlib.contextmanager
def _probe(path: str) -> Iterator[sqlite3.Connection]:
    """A read-only look inside. Reading a WAL database may make SQLite create its
    ``-wal``/``-shm`` files; if the file is refused, those it created are removed."""
    companions = [f"{path}-wal", f"{path}-shm"]
    existed = {name: os.path.exists(name) for name in companions}

    def remove_companions() -> None:
        for name in companions:
            if not existed[name] and os.path.exists(name):
                with contextlib.suppress(OSError):
                    os.unlink(name)

    try:
        connection = read_only_connection(path)
    except sqlite3.Error as error:
        remove_companions()
        raise _refusal(path, error) from None
    try:
        yield connection
    except (sqlite3.DatabaseError, NotAStoreError) as error:
        connection.close()
        remove_companions()
        if isinstance(error, NotAStoreError):
            raise
        raise _refusal(path, error) from None
    finally:
        connection.close()


def _refusal(path: str, error: sqlite3.Error) -> Exception:
    """A damaged store of ours (its header says so), or a file that is not a store."""
    if is_damage(error) and _marked_as_ours(path):
        return damaged(path, error, untouched=True)
    return NotAStoreError(f"{path} is not a durable-mp store ({error})")


def _marked_as_ours(path: str) -> bool:
    with open(path, "rb") as source:
        header = source.read(100)
    offset = _APPLICATION_ID_OFFSET
    return header.startswith(_HEADER) and (
        int.from_bytes(header[offset : offset + 4], "big") == APPLICATION_ID
    )


def read_only_connection(path: str) -> sqlite3.Connection:
    """A connection that never writes to ``path``: ``mode=ro``, or, where SQLite cannot
    even create its ``-shm`` file (a read-only directory) and no ``-wal`` holds changes
    not yet in the file, ``immutable=1``. A writer's lock is waited for (as long as a
    writer waits), never read around."""
    uri = file_uri(path)
    try:
        return _opened(f"{uri}?mode=ro")
    except sqlite3.OperationalError as error:
        wal = f"{path}-wal"
        cannot_open = sqlite_result_code(error) in _CANNOT_OPEN_READ_ONLY
        if not cannot_open or (os.path.exists(wal) and os.path.getsize(wal) > 0):
            raise
        return _opened(f"{uri}?mode=ro&immutable=1")


_CANNOT_OPEN_READ_ONLY = (8, 14)  # SQLITE_READONLY (..._CANTINIT), SQLITE_CANTOPEN


def _opened(uri: str) -> sqlite3.Connection:
    connection = sqlite3.connect(
        uri, uri=True, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS
    )
    try:
        connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        connection.close()
        raise
    return connection


def file_uri(path: str) -> str:
    from urllib.parse import quote

    return "file:" + quote(os.path.abspath(path))
