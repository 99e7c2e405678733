"""The embedded durable execution service: run durable handlers locally, crash-resumable.

``LocalService`` plays AWS's durable execution service in-process on SQLite;
``LocalRunner`` invokes handlers until their executions end.
"""

from durable_mp.local.errors import (
    CallbackAlreadyCompletedError,
    CallbackNotFoundError,
    CallbackRequestError,
    ExecutionNameConflictError,
    ExecutionNotFoundError,
    ExecutionNotRunningError,
    ExecutionOwnedError,
    InvalidCallbackRequestError,
)
from durable_mp.local.history import history_to_json
from durable_mp.local.invoke import PendingCall
from durable_mp.local.records import ExecutionRecord, Invocation
from durable_mp.local.runner import LocalRunner, ReplayClient
from durable_mp.local.service import LocalService
from durable_mp.local.store import (
    NotAStoreError,
    StoreDamagedError,
    StoreError,
    StoreIOError,
    StoreReadOnlyError,
)

__all__ = [
    "CallbackAlreadyCompletedError",
    "CallbackNotFoundError",
    "CallbackRequestError",
    "ExecutionNameConflictError",
    "ExecutionNotFoundError",
    "ExecutionNotRunningError",
    "ExecutionOwnedError",
    "ExecutionRecord",
    "InvalidCallbackRequestError",
    "Invocation",
    "LocalRunner",
    "LocalService",
    "NotAStoreError",
    "PendingCall",
    "ReplayClient",
    "StoreDamagedError",
    "StoreError",
    "StoreIOError",
    "StoreReadOnlyError",
    "history_to_json",
]
