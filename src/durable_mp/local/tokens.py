"""Checkpoint tokens: issue, read back, and decide whether one is still current.

A token names one execution, one invocation and one position in that invocation's
checkpoint chain. Each accepted checkpoint advances the chain, so only the newest token
of the invocation that is running now is accepted; every other token is stale. That
keeps a superseded invocation (a killed process that comes back, a duplicate Lambda
attempt) from writing over the one that replaced it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from durable_mp.local.errors import ApiError, invalid_token
from durable_mp.local.records import RUNNING

if TYPE_CHECKING:
    from durable_mp.local.store import ExecutionRow, Tx


_json_text = json.encoder.encode_basestring_ascii  # a string as json.dumps writes it


@dataclass(frozen=True)
class CheckpointToken:
    """The decoded content of a checkpoint token."""

    execution_arn: str
    sequence: int
    invocation_id: str

    def encode(self) -> str:
        # json.dumps({"arn": ..., "seq": ..., "inv": ...}, separators=(",", ":")), spelled out
        body = (
            f'{{"arn":{_json_text(self.execution_arn)},"seq":{int(self.sequence)},'
            f'"inv":{_json_text(self.invocation_id)}}}'
        )
        return base64.urlsafe_b64encode(body.encode()).decode()

    @classmethod
    def decode(cls, token: str) -> CheckpointToken | None:
        """The token's content, or None when it was not issued by this service."""
        return _decode(token)


# Tokens this process issued recently, by their text: the next checkpoint presents the
# token the previous one returned, and need not decode it again.
_issued: dict[str, CheckpointToken] = {}
_ISSUED_KEPT = 1024


def _decode(token: str) -> CheckpointToken | None:
    known = _issued.get(token)
    if known is not None:
        return known
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return CheckpointToken(str(data["arn"]), int(data["seq"]), str(data["inv"]))
    except (binascii.Error, UnicodeError, ValueError, TypeError, KeyError):
        return None


def _encode(token: CheckpointToken) -> str:
    text = token.encode()
    if len(_issued) >= _ISSUED_KEPT:
        _issued.clear()
    _issued[text] = token
    return text


def staleness(
    token: CheckpointToken | None,
    arn: str,
    current_sequence: int,
    open_invocation_id: str | None,
) -> str | None:
    """Why ``token`` cannot be used now, or None when it is the current token."""
    if token is None:
        return "the token was not issued by this service."
    if token.execution_arn != arn:
        return "the token belongs to another execution."
    if open_invocation_id is None or token.invocation_id != open_invocation_id:
        return "the invocation that holds this token is no longer running."
    if token.sequence != current_sequence:
        return "a newer checkpoint token has been issued; use the latest one."
    return None


def issue(tx: Tx, row: ExecutionRow, request_id: str) -> str:
    """Advance the chain and hand out its newest token; every earlier one is now stale.

    The token remembers the operation version at issue time: the next checkpoint's
    ``NewExecutionState`` is everything changed after it.
    """
    row.token_seq += 1
    tx.put_token(row.arn, row.token_seq, request_id, row.version)
    return _encode(CheckpointToken(row.arn, row.token_seq, request_id))


def require_current(
    tx: Tx, row: ExecutionRow, text: str, kind: type[ApiError]
) -> tuple[CheckpointToken, str]:
    """The token and the running invocation's id, or the error the service answers with."""
    if row.status != RUNNING:
        raise invalid_token(
            kind,
            f"execution {row.name} has already ended ({row.status}); it accepts no further calls.",
        )
    token = CheckpointToken.decode(text)
    open_invocation = tx.open_invocation(row.arn)
    request_id = open_invocation.request_id if open_invocation else None
    problem = staleness(token, row.arn, row.token_seq, request_id)
    if problem is not None or token is None or request_id is None:
        raise invalid_token(kind, problem or "unknown token.")
    return token, request_id
