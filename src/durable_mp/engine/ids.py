"""Deterministic operation identity.

The n-th operation a context issues gets the same id on every invocation: the BLAKE2b
hash of ``"<parent id>-<n>"`` (or ``"<n>"`` at the root), cut to the 64 characters the
API allows. It is the official SDK's scheme, so both SDKs agree on ids. The readable
``path`` ("2", "3-1") exists for logs and error messages only.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from durable_mp.exceptions import NonDeterministicExecutionError
from durable_mp.lambda_service import (
    Operation,
    OperationAction,
    OperationType,
    OperationUpdate,
)


def operation_id_for(prefix: str | None, counter: int) -> str:
    raw = f"{prefix}-{counter}" if prefix else str(counter)
    return hashlib.blake2b(raw.encode()).hexdigest()[:64]


@dataclass(frozen=True)
class OperationIdentifier:
    """Who an operation is: its id, where it hangs, what kind it is."""

    operation_id: str
    operation_type: OperationType
    sub_type: str
    parent_id: str | None = None
    name: str | None = None
    path: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        """How messages refer to the operation: ``step 'fetch' (operation 2)``."""
        kind = self.operation_type.value.lower().replace("_", " ")
        named = f" '{self.name}'" if self.name else ""
        return f"{kind}{named} (operation {self.path or self.operation_id[:12]})"

    def update(self, action: OperationAction, **fields: Any) -> OperationUpdate:
        return OperationUpdate(
            operation_id=self.operation_id,
            operation_type=self.operation_type,
            action=action,
            parent_id=self.parent_id,
            name=self.name,
            sub_type=self.sub_type,
            **fields,
        )

    def validate_replay(self, checkpoint: Operation | None) -> None:
        """Refuse to replay a checkpoint that belongs to a different operation."""
        if checkpoint is None:
            return
        differences: list[str] = []
        if checkpoint.operation_type is not self.operation_type:
            differences.append(
                f"type {checkpoint.operation_type.value} then, {self.operation_type.value} now"
            )
        if (checkpoint.sub_type or None) != (self.sub_type or None):
            differences.append(f"subtype {checkpoint.sub_type!r} then, {self.sub_type!r} now")
        if (checkpoint.name or None) != (self.name or None):
            differences.append(f"name {checkpoint.name!r} then, {self.name!r} now")
        if (checkpoint.parent_id or None) != (self.parent_id or None):
            differences.append("a different parent context")
        if differences:
            raise NonDeterministicExecutionError(
                f"Non-deterministic execution at operation {self.path or '?'} "
                f"(id {self.operation_id}): " + "; ".join(differences) + ". A handler must "
                "issue the same operations in the same order on every invocation; deploy a "
                "changed handler as a new version rather than under running executions.",
                step_id=self.operation_id,
            )


class OperationCounter:
    """Hands out the ids of one context's operations in call order (thread-safe)."""

    def __init__(self, prefix: str | None, path_prefix: str) -> None:
        self._prefix = prefix
        self._path_prefix = path_prefix
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._issued = 0

    def next(self) -> tuple[str, str]:
        """The next (operation id, readable path)."""
        with self._lock:
            number = next(self._counter)
            self._issued = number
        return operation_id_for(self._prefix, number), self._path(number)

    def peek(self) -> str:
        """The id the next call to :meth:`next` will return."""
        with self._lock:
            return operation_id_for(self._prefix, self._issued + 1)

    def _path(self, number: int) -> str:
        return f"{self._path_prefix}-{number}" if self._path_prefix else str(number)
