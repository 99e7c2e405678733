"""The Lambda Runtime API for one sandbox, on 127.0.0.1: what ``awslambdaric`` talks to.

``GET /2018-06-01/runtime/invocation/next`` blocks until there is an invocation and answers
with its event and Lambda's headers (request id, deadline, function ARN, trace id);
``POST .../invocation/{id}/response`` and ``.../{id}/error`` end it; ``POST
/2018-06-01/runtime/init/error`` reports a failed INIT. The runtime's first ``next`` ends
INIT; every ``next`` after a response means the runtime is idle, which is when Lambda
freezes the environment (the ``on_idle`` hook).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

PREFIX = "/2018-06-01/runtime"
NEXT = f"{PREFIX}/invocation/next"
INIT_ERROR = f"{PREFIX}/init/error"
_ENDING = re.compile(rf"{PREFIX}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)")
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
BODY_LIMIT = 6 * 1024 * 1024 + 1024  # a response above the invoke limit is refused whole


@dataclass
class Invocation:
    """One event handed to the runtime, and how the runtime ended it."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str
    client_context: str | None = None
    cognito_identity: str | None = None
    result: bytes | None = None
    error_type: str | None = None  # set with ``result`` when the runtime posted /error
    done: threading.Event = field(default_factory=threading.Event)

    def headers(self) -> dict[str, str]:
        headers = {
            "Lambda-Runtime-Aws-Request-Id": self.request_id,
            "Lambda-Runtime-Deadline-Ms": str(self.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Lambda-Runtime-Trace-Id": self.trace_id,
            "Content-Type": "application/json",
        }
        if self.client_context:
            headers["Lambda-Runtime-Client-Context"] = self.client_context
        if self.cognito_identity:
            headers["Lambda-Runtime-Cognito-Identity"] = self.cognito_identity
        return headers


class RuntimeApi:
    """The server side of one sandbox's runtime; one invocation at a time."""

    def __init__(self, on_idle: Callable[[], None] | None = None) -> None:
        self._lock = threading.Condition()
        self._pending: Invocation | None = None
        self._current: Invocation | None = None
        self._closed = False
        self._on_idle = on_idle
        self.init_done = threading.Event()
        self.init_ended_at: float | None = None
        self.init_error: bytes | None = None
        self.init_error_type: str | None = None
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
            name="durable-mp-runtime-api", daemon=True,
        )
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def submit(self, invocation: Invocation) -> None:
        """Hand ``invocation`` to the runtime's (next) ``next`` call."""
        with self._lock:
            if self._pending is not None or self._current is not None:
                raise RuntimeError("the sandbox is busy with another invocation")
            self._pending = invocation
            self._lock.notify_all()

    def idle(self) -> bool:
        with self._lock:
            return self._pending is None and self._current is None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)

    # Called by request handlers.

    def next_invocation(self) -> Invocation | None:
        """Block until an invocation is pending (None once closed).

        ``on_idle`` runs outside the lock: it takes the sandbox's own lock, which
        :meth:`submit`'s callers hold while they thaw and submit.
        """
        with self._lock:
            if not self.init_done.is_set():
                self.init_ended_at = time.monotonic()
                self.init_done.set()
            self._current = None  # a runtime that asks again has let go of the last one
            idle = self._pending is None and not self._closed
        if idle and self._on_idle is not None:
            self._on_idle()
        with self._lock:
            while self._pending is None and not self._closed:
                self._lock.wait()
            if self._closed:
                return None
            self._current, self._pending = self._pending, None
            return self._current

    def has_pending(self) -> bool:
        with self._lock:
            return self._pending is not None

    def end(self, request_id: str, body: bytes, error_type: str | None) -> bool:
        with self._lock:
            current = self._current
            if current is None or current.request_id != request_id:
                return False
            self._current = None
        current.result, current.error_type = body, error_type
        current.done.set()
        return True

    def fail_init(self, body: bytes, error_type: str | None) -> None:
        self.init_error, self.init_error_type = body, error_type
        if self.init_ended_at is None:
            self.init_ended_at = time.monotonic()
        self.init_done.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, api: RuntimeApi) -> None:
        self.api = api
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a runtime killed mid-request (timeout, out of memory) resets its socket."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        if self.path != NEXT:
            self._reply(404, {"errorMessage": "not found", "errorType": "NotFound"})
            return
        invocation = self.server.api.next_invocation()
        if invocation is None:
            self.close_connection = True
            self._reply(410, {"errorMessage": "the sandbox is shutting down",
                              "errorType": "Runtime.Shutdown"})
            return
        self._send(200, invocation.payload, invocation.headers())

    def do_POST(self) -> None:
        body = self._body()
        if body is None:
            return
        error_type = self.headers.get(ERROR_TYPE_HEADER)
        if self.path == INIT_ERROR:
            self.server.api.fail_init(body, error_type)
            self._reply(202, {"status": "OK"})
            return
        match = _ENDING.fullmatch(self.path)
        if match is None:
            self._reply(404, {"errorMessage": "not found", "errorType": "NotFound"})
            return
        error_type = (error_type or "Runtime.Unknown") if match["kind"] == "error" else None
        if self.server.api.end(match["id"], body, error_type):
            self._reply(202, {"status": "OK"})
        else:
            self._reply(400, {"errorMessage": "Invalid request ID",
                              "errorType": "InvalidRequestID"})

    def _body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._reply(400, {"errorMessage": "bad Content-Length", "errorType": "InvalidRequest"})
            return None
        if length > BODY_LIMIT:
            self.close_connection = True
            self._reply(413, {"errorMessage": "payload too large",
                              "errorType": "RequestEntityTooLarge"})
            return None
        return self.rfile.read(length)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        with contextlib.suppress(OSError):
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the runtime's traffic is not the user's log."""
