"""The runtime's log frames, as Lambda takes them: a pipe given as ``_LAMBDA_TELEMETRY_LOG_FD``.

awslambdaric writes each log record (and each unhandled error) to that descriptor as one
frame: a 4-byte type, a 4-byte length, an 8-byte timestamp and the message. Lambda turns
every frame into one CloudWatch event; here each becomes one block of lines on serve's
stderr. Without it the runtime would print records on stdout, where a record ending in a
traceback has no final newline and the next line the handler prints would be glued to it.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import threading
from typing import IO

ENV = "_LAMBDA_TELEMETRY_LOG_FD"
_HEADER = struct.Struct(">IIQ")


class TelemetryPipe:
    """A pipe whose write end the runtime gets; a thread copies its frames to ``out``."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self._out = out
        self._thread = threading.Thread(target=self._copy, name="durable-mp-telemetry",
                                        daemon=True)

    def started(self) -> None:
        """The runtime has the write end: close ours, so EOF comes when the sandbox ends."""
        os.close(self.write_fd)
        self._thread.start()

    def _copy(self) -> None:
        with os.fdopen(self.read_fd, "rb") as pipe:
            while True:
                header = pipe.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    return
                _, length, _ = _HEADER.unpack(header)
                message = pipe.read(length).decode(errors="replace")
                out = self._out or sys.stderr
                with contextlib.suppress(OSError, ValueError):
                    out.write(message if message.endswith("\n") else message + "\n")
                    out.flush()
