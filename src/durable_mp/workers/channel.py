"""One end of a worker's socket: length-prefixed frames, sent and received whole.

A frame is a 4-byte length and that many bytes (``protocol.py`` says what is in them).
Small frames are sent with one ``sendall`` and read with two ``recv`` calls; a large one is
sent from its pieces (no joined copy) and read into one buffer of its exact size, handed
on as a ``memoryview`` so the blob inside it is never copied again.

Not thread-safe: callers hold a lock per direction, or own the channel alone.
"""

from __future__ import annotations

import select
import socket
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from durable_mp.workers.protocol import Blob

_LENGTH = struct.Struct("!I")
_SMALL = 1 << 16  # frames up to this size are joined to one buffer and copied once
_MAX_FRAME = (1 << 32) - 1


class Channel:
    """Frames over a connected stream socket (blocking)."""

    __slots__ = ("sock",)

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, parts: Sequence[Blob]) -> None:
        """Send one frame made of ``parts``; OSError if the other end is gone."""
        size = sum(len(part) if type(part) is bytes else memoryview(part).nbytes for part in parts)
        if size > _MAX_FRAME:
            raise ValueError(f"a message of {size} bytes is too large for a worker's socket")
        header = _LENGTH.pack(size)
        if size <= _SMALL:
            self.sock.sendall(header + b"".join(parts))
            return
        pending = [memoryview(header), *(memoryview(part).cast("B") for part in parts)]
        while pending:
            sent = self.sock.sendmsg(pending)
            while pending and sent >= pending[0].nbytes:
                sent -= pending.pop(0).nbytes
            if sent:
                pending[0] = pending[0][sent:]

    def recv(self) -> Blob:
        """The next frame; EOFError once the other end has closed."""
        (size,) = _LENGTH.unpack(self._exactly(_LENGTH.size))
        if size <= _SMALL:
            return self._exactly(size) if size else b""
        buffer = bytearray(size)
        view = memoryview(buffer)
        got = 0
        while got < size:
            count = self.sock.recv_into(view[got:], size - got, socket.MSG_WAITALL)
            if not count:
                raise EOFError("the worker's socket closed in the middle of a message")
            got += count
        return view

    def _exactly(self, size: int) -> bytes:
        data = self.sock.recv(size, socket.MSG_WAITALL)
        if len(data) == size:
            return data
        chunks = [data]
        got = len(data)
        while got < size:
            if not data:
                raise EOFError("the worker's socket is closed")
            data = self.sock.recv(size - got, socket.MSG_WAITALL)
            chunks.append(data)
            got += len(data)
        return b"".join(chunks)

    def readable(self, timeout: float = 0.0) -> bool:
        """Whether a frame (or the end of the stream) is waiting to be read."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(int(timeout * 1000)))

    def close(self) -> None:
        self.sock.close()
