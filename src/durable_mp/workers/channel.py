"""One end of a worker's socket: length-prefixed frames, sent and received whole.

A frame is a 4-byte length and that many bytes (``protocol.py`` says what is in them).
Small frames are sent with one ``sendall`` and usually read with one ``recv``: what a read
brings beyond the frame is kept for the next one. A large frame is sent from its pieces
(no joined copy) and read into one buffer of its exact size, handed on as a
``memoryview`` so the blob inside it is never copied again.

Not thread-safe: callers hold a lock per direction, or own the channel alone.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from durable_mp.workers.protocol import Blob

_LENGTH = struct.Struct("!I")
_SMALL = 1 << 16  # frames up to this size are joined to one buffer and copied once
_CHUNK = 1 << 16  # what one read asks for
_MAX_FRAME = (1 << 32) - 1


class Channel:
    """Frames over a connected stream socket (blocking)."""

    __slots__ = ("_pending", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._pending = b""  # read, not yet handed out

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, parts: Sequence[Blob]) -> None:
        """Send one frame made of ``parts``; OSError if the other end is gone."""
        size = 0
        for part in parts:
            size += len(part) if type(part) is bytes else memoryview(part).nbytes
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
        """The next frame; EOFError once the other end has closed (or stopped reading)."""
        data = self._pending
        while True:
            if len(data) >= _LENGTH.size:
                (size,) = _LENGTH.unpack_from(data)
                end = _LENGTH.size + size
                if len(data) >= end:
                    self._pending = data[end:]
                    return data[_LENGTH.size : end]
                if size > _SMALL:
                    return self._recv_large(data, size)
            chunk = self.sock.recv(_CHUNK)
            if not chunk:
                self._pending = data
                raise EOFError("the worker's socket is closed")
            data = data + chunk if data else chunk

    def _recv_large(self, data: bytes, size: int) -> memoryview:
        buffer = bytearray(size)
        view = memoryview(buffer)
        got = len(data) - _LENGTH.size
        view[:got] = data[_LENGTH.size :]
        self._pending = b""
        while got < size:
            count = self.sock.recv_into(view[got:], size - got, socket.MSG_WAITALL)
            if not count:
                raise EOFError("the worker's socket closed in the middle of a message")
            got += count
        return view

    def buffered(self) -> bool:
        """Whether a whole frame was read already (a wait on the socket would not see it)."""
        data = self._pending
        if len(data) < _LENGTH.size:
            return False
        size: int = _LENGTH.unpack_from(data)[0]
        return len(data) >= _LENGTH.size + size

    def stop_reading(self) -> None:
        """Wake a thread blocked in :meth:`recv`: what was sent is still read, then EOF."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD)

    def close(self) -> None:
        self.sock.close()
