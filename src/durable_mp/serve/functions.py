"""Function names: ``NAME=TARGET`` arguments, and the identifiers Invoke accepts.

Lambda lets a caller name a function as ``name``, ``name:qualifier``, a partial ARN
(``account:function:name``) or a full ARN, so clients built for AWS work unchanged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"

# How serve tells ``durable_mp.serve.entry`` (the handler awslambdaric runs) what to load.
ENTRY_HANDLER = "durable_mp.serve.entry.handler"
TARGET_ENV = "DURABLE_MP_SERVE_TARGET"
PLAIN_ENV = "DURABLE_MP_SERVE_PLAIN"
EXECUTOR_ENV = "DURABLE_MP_SERVE_EXECUTOR"
WORKERS_ENV = "DURABLE_MP_SERVE_WORKERS"


@dataclass(frozen=True)
class Entry:
    """One served function: an explicit name (or None for the target's) and its target."""

    name: str | None
    spec: str

    def as_argument(self) -> str:
        return f"{self.name}={self.spec}" if self.name else self.spec


def parse_entry(text: str) -> Entry:
    """``NAME=TARGET`` or ``TARGET``; ``ValueError`` says what to fix."""
    name, sep, spec = text.partition("=")
    if not sep:
        return Entry(None, text)
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"'{name}' in '{text}' is not a function name; use 1-64 letters, digits, - or _"
        )
    if not spec:
        raise ValueError(f"'{text}' names no target; write {name}=path/to/file.py:function")
    return Entry(name, spec)


@dataclass(frozen=True)
class Invoked:
    """A function identifier from an Invoke request, resolved."""

    name: str
    qualifier: str | None
    arn: str

    @property
    def version(self) -> str:
        """What Lambda reports as the executed version: a numeric qualifier, or $LATEST."""
        return self.qualifier if self.qualifier and self.qualifier.isdigit() else "$LATEST"


def resolve(identifier: str, qualifier: str | None = None) -> Invoked | None:
    """Split a name, ``name:qualifier``, partial or full ARN; None if it is malformed."""
    parts = identifier.split(":")
    partition, account = "aws", DEFAULT_ACCOUNT
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    if len(parts) >= 7 and parts[0] == "arn" and parts[5] == "function":
        partition, region, account, rest = parts[1], parts[3], parts[4], parts[6:]
    elif len(parts) >= 3 and parts[1] == "function":
        account, rest = parts[0], parts[2:]
    else:
        rest = parts
    if len(rest) > 2 or not NAME_PATTERN.fullmatch(rest[0]):
        return None
    name = rest[0]
    in_identifier = rest[1] if len(rest) == 2 else None
    if in_identifier is not None and qualifier is not None and in_identifier != qualifier:
        return None
    chosen = in_identifier or qualifier or None
    arn = f"arn:{partition}:lambda:{region}:{account}:function:{name}"
    return Invoked(name, chosen, f"{arn}:{chosen}" if chosen else arn)
