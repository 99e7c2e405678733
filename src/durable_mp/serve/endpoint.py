"""The HTTP side: Lambda's Invoke operation, ``POST /2015-03-31/functions/{name}/invocations``.

Only what a Lambda client or the durable execution service uses: the three invocation
types, the 6 MB limits, Lambda's API errors and function-error header, and the request id
and executed-version headers botocore reads back. It holds up under abuse: a deep listen
backlog for bursts, a read timeout on every request, a body whose ``Content-Length`` is
missing, malformed or longer than what arrives is a 400, and an oversized body is read
and dropped so its 413 reaches the client.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from durable_mp.sandbox import lambda_errors
from durable_mp.sandbox.lambda_errors import ApiError, Reply
from durable_mp.serve.functions import Invoked, resolve
from durable_mp.serve.sandboxes import PoolClosed

if TYPE_CHECKING:
    from durable_mp.serve.sandboxes import SandboxPool

INVOKE_PATH = re.compile(r"/2015-03-31/functions/(?P<function>[^/]+)/invocations/?")
REQUEST_LIMIT = 6 * 1024 * 1024
RESPONSE_LIMIT = 6_291_556
DRAIN_LIMIT = 64 * 1024 * 1024  # an oversized body up to this is read so the 413 arrives
LISTEN_BACKLOG = 1024
REQUEST_ID_HEADERS = ("X-Amzn-RequestId", "X-Amz-Request-Id", "Lambda-Runtime-Aws-Request-Id")
_CHUNK = 1 << 16


class InvokeServer(ThreadingHTTPServer):
    """A threaded server: each request thread waits for its own sandbox."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, host: str, port: int, pool: SandboxPool, *,
                 read_timeout: float = 30.0) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.pool = pool
        self.read_timeout = read_timeout
        super().__init__((host, port), InvokeHandler)

    @property
    def functions(self) -> frozenset[str]:
        return frozenset(self.pool.functions)

    def run(self, invoked: Invoked, payload: bytes, request_id: str,
            headers: dict[str, str]) -> Reply:
        result = self.pool.invoke(
            invoked.name, payload, request_id, function_arn=invoked.arn,
            trace_id=headers.get("x-amzn-trace-id"),
            client_context=headers.get("x-amz-client-context"),
        )
        reply = result.reply
        if len(reply.payload) > RESPONSE_LIMIT:
            reply = lambda_errors.function_error(
                "Function.ResponseSizeTooLarge",
                f"Response payload size ({len(reply.payload)} bytes) exceeded maximum allowed "
                f"payload size ({RESPONSE_LIMIT} bytes).",
            )
        memory = self.pool.functions[invoked.name].memory_mb
        print(f"{result.report(request_id, memory)}\tFunction: {invoked.name}",
              file=sys.stderr, flush=True)
        return reply

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line, never a traceback: a client that vanished is not serve's failure."""
        error = sys.exc_info()[1]
        print(f"durable-mp serve: request from {client_address[0]} failed: "
              f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)


class BadRequest(Exception):
    """The request's framing is wrong; the connection cannot be reused."""


class InvokeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: InvokeServer

    def setup(self) -> None:
        # Every read and write, headers included (StreamRequestHandler reads it here).
        self.timeout = self.server.read_timeout  # type: ignore[misc]
        super().setup()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        try:
            length = self._content_length()
            if length > REQUEST_LIMIT:
                self._refuse_oversized(length)
                return
            payload = self._read_body(length)
        except BadRequest as error:
            self.close_connection = True
            self._api_error(ApiError(400, "InvalidRequestContentException", str(error)))
            return
        match = INVOKE_PATH.fullmatch(url.path)
        if match is None:
            self._unknown_operation()
            return
        identifier = unquote(match["function"])
        qualifier = parse_qs(url.query).get("Qualifier", [None])[0]
        invoked = resolve(identifier, qualifier)
        if invoked is None or invoked.name not in self.server.functions:
            self._api_error(ApiError(
                404, "ResourceNotFoundException",
                f"Function not found: {invoked.arn if invoked else identifier}",
            ))
            return
        try:
            if payload.strip():
                json.loads(payload)
        except ValueError as error:
            self._api_error(ApiError(
                400, "InvalidRequestContentException",
                f"Could not parse request body into json: {error}",
            ))
            return
        self._invoke(invoked, payload)

    def _content_length(self) -> int:
        text = self.headers.get("Content-Length")
        if text is None:
            raise BadRequest("Content-Length is required for the Invoke operation")
        if not text.strip().isdigit():
            raise BadRequest(f"Content-Length {text!r} is not a number of bytes")
        return int(text)

    def _read_body(self, length: int) -> bytes:
        parts: list[bytes] = []
        remaining = length
        try:
            while remaining:
                chunk = self.rfile.read1(min(remaining, _CHUNK))
                if not chunk:
                    break
                parts.append(chunk)
                remaining -= len(chunk)
        except TimeoutError:
            raise BadRequest(
                f"the body ended {remaining} bytes short of its Content-Length ({length}) "
                f"after {self.server.read_timeout:g} s"
            ) from None
        if remaining:
            raise BadRequest(f"the body ended {remaining} bytes short of its Content-Length "
                             f"({length})")
        return b"".join(parts)

    def _refuse_oversized(self, length: int) -> None:
        """Answer 413, then read what the client still sends, so it reads the answer
        instead of a reset; a body past ``DRAIN_LIMIT`` is cut off."""
        self.close_connection = True
        self._api_error(ApiError(
            413, "RequestTooLargeException",
            f"Request must be smaller than {REQUEST_LIMIT} bytes for the Invoke operation",
        ))
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            remaining = min(length, DRAIN_LIMIT)
            while remaining > 0:
                chunk = self.rfile.read1(min(remaining, _CHUNK))
                if not chunk:
                    break
                remaining -= len(chunk)

    def _invoke(self, invoked: Invoked, payload: bytes) -> None:
        request_id = self._request_id()
        headers = {name.lower(): value for name, value in self.headers.items()}
        kind = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if kind == "DryRun":
            self._send(204, b"", {"x-amzn-RequestId": request_id})
        elif kind == "Event":
            threading.Thread(
                target=self._run_quietly, args=(invoked, payload, request_id, headers),
                daemon=True,
            ).start()
            self._send(202, b"", {"x-amzn-RequestId": request_id})
        elif kind == "RequestResponse":
            try:
                reply = self.server.run(invoked, payload, request_id, headers)
            except PoolClosed:
                self._api_error(ApiError(503, "ServiceException", "serve is shutting down",
                                         kind="Service"))
                return
            answer = {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": invoked.version}
            if reply.function_error:
                answer["X-Amz-Function-Error"] = reply.function_error
            self._send(200, reply.payload, answer)
        else:
            self._api_error(ApiError(
                400, "InvalidParameterValueException",
                f"Unsupported invocation type {kind!r}; use RequestResponse, Event or DryRun",
            ))

    def _run_quietly(self, invoked: Invoked, payload: bytes, request_id: str,
                     headers: dict[str, str]) -> None:
        with contextlib.suppress(PoolClosed):
            self.server.run(invoked, payload, request_id, headers)

    def _request_id(self) -> str:
        for name in REQUEST_ID_HEADERS:
            value = self.headers.get(name)
            if value and len(value) <= 128:
                return value
        return str(uuid.uuid4())

    def do_GET(self) -> None:
        self.close_connection = True  # any body stays unread
        self._unknown_operation()

    do_PUT = do_DELETE = do_GET

    def _unknown_operation(self) -> None:
        self._api_error(ApiError(404, "UnknownOperationException", "Unknown operation"))

    def _api_error(self, error: ApiError) -> None:
        self._send(error.status, error.body(), {"x-amzn-ErrorType": error.code})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        with contextlib.suppress(OSError):  # the client left: nothing to tell it
            self.send_response(status)
            if body or status != 204:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if body:
                self.wfile.write(body)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """Quiet: every invocation already prints a REPORT line."""

    def log_error(self, format: str, *args: Any) -> None:
        """One line for a malformed or timed-out request."""
        print(f"durable-mp serve: {self.address_string()}: {format % args}",
              file=sys.stderr, flush=True)
