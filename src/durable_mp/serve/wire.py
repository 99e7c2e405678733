"""Frames between ``serve`` and a runtime process over their private socket.

A frame is two big-endian lengths, a small JSON header and a raw body. The body carries
the invocation payload and the handler's output untouched, so megabyte payloads are not
escaped into a JSON string and parsed twice. The socket is dedicated because user code
owns the runtime's stdout and stderr.
"""

from __future__ import annotations

import json
import select
import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

_LENGTHS = struct.Struct(">II")
_CHUNK = 1 << 20

Header = dict[str, Any]


class PeerGone(Exception):
    """The other end closed the socket (the process exited or was killed)."""


class WaitTimeout(Exception):
    """No frame arrived before the deadline."""


def encode(header: Header, body: bytes = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return _LENGTHS.pack(len(head), len(body)) + head + body


def send(sock: Any, header: Header, body: bytes = b"") -> None:
    """Write one frame; ``PeerGone`` if the peer has closed its end."""
    try:
        sock.sendall(encode(header, body))
    except (BrokenPipeError, ConnectionResetError) as error:
        raise PeerGone(str(error)) from None


def receive(sock: Any, wait: Callable[[], None] | None = None) -> tuple[Header, bytes]:
    """Read one frame.

    ``wait`` is called before every read and returns once the socket is readable (or
    raises); without it the read blocks.
    """
    head_length, body_length = _LENGTHS.unpack(_read_exactly(sock, _LENGTHS.size, wait))
    header = json.loads(_read_exactly(sock, head_length, wait))
    if not isinstance(header, dict):
        raise ValueError(f"frame header is not an object: {header!r}")
    return header, _read_exactly(sock, body_length, wait)


def readable(sock: Any, timeout: float) -> bool:
    ready, _, _ = select.select([sock], [], [], max(0.0, timeout))
    return bool(ready)


def _read_exactly(sock: Any, size: int, wait: Callable[[], None] | None) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining:
        if wait is not None:
            wait()
        try:
            chunk = sock.recv(min(remaining, _CHUNK))
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise PeerGone("the socket was closed")
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)
