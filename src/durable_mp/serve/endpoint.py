"""The HTTP side: Lambda's Invoke operation, ``POST /2015-03-31/functions/{name}/invocations``.

Only what a Lambda client or the durable execution service uses: the three invocation
types, the 6 MB limits, Lambda's API errors and function-error header, and the request id
and executed-version headers botocore reads back.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from durable_mp.serve import lambda_errors
from durable_mp.serve.functions import Invoked, resolve
from durable_mp.serve.lambda_errors import ApiError, Reply
from durable_mp.serve.sandboxes import PoolClosed

if TYPE_CHECKING:
    from durable_mp.serve.sandboxes import SandboxPool

INVOKE_PATH = re.compile(r"/2015-03-31/functions/(?P<function>[^/]+)/invocations/?")
REQUEST_LIMIT = 6 * 1024 * 1024
RESPONSE_LIMIT = 6_291_556
REQUEST_ID_HEADERS = ("X-Amzn-RequestId", "X-Amz-Request-Id", "Lambda-Runtime-Aws-Request-Id")


class InvokeServer(ThreadingHTTPServer):
    """A threaded server: each request thread waits for its own sandbox."""

    daemon_threads = True

    def __init__(self, host: str, port: int, pool: SandboxPool) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.functions: frozenset[str] = frozenset()  # set once the first sandbox is up
        self.pool = pool
        super().__init__((host, port), InvokeHandler)

    def run(self, invoked: Invoked, payload: bytes, request_id: str) -> Reply:
        context = {
            "aws_request_id": request_id,
            "function_name": invoked.name,
            "function_version": invoked.version,
            "invoked_function_arn": invoked.arn,
        }
        started = time.monotonic()
        reply = self.pool.invoke(invoked.name, context, payload)
        if len(reply.payload) > RESPONSE_LIMIT:
            reply = lambda_errors.function_error(
                "Function.ResponseSizeTooLarge",
                f"Response payload size ({len(reply.payload)} bytes) exceeded maximum allowed "
                f"payload size ({RESPONSE_LIMIT} bytes).",
            )
        outcome = f"\tError: {reply.function_error}" if reply.function_error else ""
        print(
            f"REPORT RequestId: {request_id}\tFunction: {invoked.name}\t"
            f"Duration: {(time.monotonic() - started) * 1000:.2f} ms{outcome}",
            file=sys.stderr,
            flush=True,
        )
        return reply


class InvokeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: InvokeServer

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > REQUEST_LIMIT:
            self.close_connection = True  # the body stays unread
            self._api_error(ApiError(
                413, "RequestTooLargeException",
                f"Request must be smaller than {REQUEST_LIMIT} bytes for the Invoke operation",
            ))
            return
        payload = self.rfile.read(length)
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

    def _invoke(self, invoked: Invoked, payload: bytes) -> None:
        request_id = self._request_id()
        kind = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if kind == "DryRun":
            self._send(204, b"", {"x-amzn-RequestId": request_id})
        elif kind == "Event":
            threading.Thread(
                target=self._run_quietly, args=(invoked, payload, request_id), daemon=True
            ).start()
            self._send(202, b"", {"x-amzn-RequestId": request_id})
        elif kind == "RequestResponse":
            try:
                reply = self.server.run(invoked, payload, request_id)
            except PoolClosed:
                self._api_error(ApiError(503, "ServiceException", "serve is shutting down",
                                         kind="Service"))
                return
            headers = {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": invoked.version}
            if reply.function_error:
                headers["X-Amz-Function-Error"] = reply.function_error
            self._send(200, reply.payload, headers)
        else:
            self._api_error(ApiError(
                400, "InvalidParameterValueException",
                f"Unsupported invocation type {kind!r}; use RequestResponse, Event or DryRun",
            ))

    def _run_quietly(self, invoked: Invoked, payload: bytes, request_id: str) -> None:
        with contextlib.suppress(PoolClosed):
            self.server.run(invoked, payload, request_id)

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
        self.send_response(status)
        if body or status != 204:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """Quiet: every invocation already prints a REPORT line."""
