"""Opening a store file: refuse what is not ours, keep it private, bring it up to date.

In order: a file that exists is checked to be a durable-mp store before SQLite may write
to it (:func:`durable_mp.local.schema.check_file`); a new one is created with mode 0600.
A store readable by others (an older durable-mp, a copy, a umask) is tightened to 0600
with its ``-wal`` and ``-shm`` files, or a warning says why it cannot be. Then the
connection: WAL and ``synchronous=FULL`` for a writer, which also migrates the schema;
``mode=ro`` for a reader, which never writes, so it works on a read-only mount or on
another user's file and never waits for a writer (WAL readers do not block).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
from typing import TYPE_CHECKING

from durable_mp.local import schema
from durable_mp.local.store import (
    StoreError,
    StoreIOError,
    damaged,
    is_damage,
    sqlite_result_code,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = int(schema.BUSY_TIMEOUT_SECONDS * 1000)
_PRIVATE = 0o600
# SQLite's result codes for a storage that failed (not a file that may not be written):
# SQLITE_BUSY, SQLITE_LOCKED (locked too long), SQLITE_IOERR, SQLITE_FULL.
_STORAGE_FAILED = (5, 6, 10, 13)


def connect(path: str, *, read_only: bool) -> sqlite3.Connection:
    """A connection to the store at ``path`` (created if missing, unless ``read_only``)."""
    exists = os.path.exists(path)
    if exists:
        schema.check_file(path)
    elif read_only:
        raise StoreError(f"{path}: no such store")
    else:
        _create_private_file(path)
    _keep_private(path)
    try:
        if read_only:
            return _reader(path)
        return _writer(path, fresh=not exists or os.path.getsize(path) == 0)
    except sqlite3.Error as error:
        if is_damage(error):
            raise damaged(path, error, untouched=read_only) from None
        if sqlite_result_code(error) in _STORAGE_FAILED:
            raise StoreIOError(f"the store {path} cannot be opened: {error}") from None
        raise StoreError(f"the store {path} cannot be opened: {error}") from None


def connect_memory() -> sqlite3.Connection:
    """SQLite's own in-memory database, with the current schema."""
    connection = sqlite3.connect(
        ":memory:", check_same_thread=False, isolation_level=None
    )
    with _write_transaction(connection):
        schema.migrate(connection, ":memory:")
    return connection


def _writer(path: str, *, fresh: bool) -> sqlite3.Connection:
    connection = sqlite3.connect(
        path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
    )
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if fresh:
        # Marked before WAL is on, so the mark is in the file's header at once (readers
        # of the header, like schema.check_file, see it without replaying a WAL).
        with _write_transaction(connection):
            schema.migrate(connection, path)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    with _write_transaction(connection):
        schema.migrate(connection, path)
    return connection


def _reader(path: str) -> sqlite3.Connection:
    connection = schema.read_only_connection(path)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    schema.stand_in_for_missing(connection)
    return connection


@contextlib.contextmanager
def _write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _create_private_file(path: str) -> None:
    """Create the database file with mode 0600 before SQLite opens it.

    SQLite copies the database file's mode onto its ``-wal`` and ``-shm`` files, so the
    whole store stays private to its owner.
    """
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, _PRIVATE)
    os.close(descriptor)


def _keep_private(path: str) -> None:
    """Tighten a store others may read to 0600 (with its ``-wal``/``-shm``), or warn."""
    for name in (path, f"{path}-wal", f"{path}-shm"):
        try:
            mode = stat.S_IMODE(os.stat(name).st_mode)
        except FileNotFoundError:
            continue
        if not mode & 0o077:
            continue
        try:
            os.chmod(name, _PRIVATE)
        except OSError as error:
            logger.warning(
                "Store file %s is readable by others (mode %04o) and cannot be made private "
                "(%s); it holds your executions' inputs and results.",
                name,
                mode,
                error.strerror or error,
            )
        else:
            logger.info("Store file %s was mode %04o; it is 0600 now.", name, mode)
