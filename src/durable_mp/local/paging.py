"""Pages of operations and the markers that lead to the next page.

A page lists operations in creation order. A marker remembers where the previous page
stopped and, for the rest of a checkpoint's ``NewExecutionState``, which versions the
delta covers, so every page of one delta describes the same set of changes.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from durable_mp.local.store import StoredOperation, Tx

MAX_PAGE_ITEMS = 1000


@dataclass(frozen=True)
class Marker:
    after_position: int
    versions: tuple[int, int] | None = None

    def encode(self) -> str:
        body: dict[str, object] = {"p": self.after_position}
        if self.versions is not None:
            body["v"] = list(self.versions)
        return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()

    @classmethod
    def decode(cls, text: str) -> Marker | None:
        """The marker's content, or None when this service did not issue it."""
        try:
            body = json.loads(base64.urlsafe_b64decode(text.encode()))
            versions = body.get("v")
            return cls(
                int(body["p"]),
                (int(versions[0]), int(versions[1])) if versions is not None else None,
            )
        except (binascii.Error, UnicodeError, ValueError, TypeError, KeyError, IndexError):
            return None


@dataclass(frozen=True)
class Page:
    operations: list[StoredOperation]
    next_marker: str | None


def read_page(tx: Tx, arn: str, start: Marker, limit: int) -> Page:
    """Up to ``limit`` operations after ``start``; a marker when more remain."""
    rows = tx.operations_page(
        arn, after_position=start.after_position, versions=start.versions, limit=limit + 1
    )
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, Marker(rows[-1].position, start.versions).encode())
