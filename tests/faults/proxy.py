"""A fault-injecting HTTP proxy in front of the durable execution API (dex-local-runner).

The handler's boto3 client talks to the proxy (``AWS_ENDPOINT_URL_LAMBDA``); the proxy
forwards every request to the real (local) service, except that a checkpoint call may
meet a fault instead, as a real network and a real service produce them:

``throttle``      429 ``ThrottlingException``, not forwarded;
``server-error``  500 ``ServiceException``, not forwarded;
``reset-before``  the connection is reset (TCP RST) before anything is forwarded;
``reset-after``   forwarded and applied, then the connection is reset: the answer is lost;
``stale-token``   forwarded with an earlier checkpoint token of the execution (a
                  superseded one; a malformed one if there is none yet): the service
                  refuses it with ``Invalid checkpoint token``;
``timeout``       held longer than the function may run (its invocation times out and
                  its sandbox is killed), then forwarded to a client that is gone.

Every checkpoint call is recorded (:class:`CheckpointCall`), with whether its answer
reached the client: an *acknowledged* checkpoint is one whose 2xx answer was delivered.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("throttle", "server-error", "reset-before", "reset-after", "stale-token", "timeout")
# Faults a botocore retry cannot cure: the invocation fails and the service invokes again.
INVOCATION_FAULTS = ("stale-token", "timeout")
_CHECKPOINT = "/checkpoint"
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


@dataclass
class CheckpointCall:
    number: int
    arn: str
    token: str
    client_token: str | None
    updates: list[dict[str, Any]]
    fault: str | None = None
    status: int | None = None  # what the client was answered (None: nothing, reset)
    acknowledged: bool = False  # a 2xx answer reached the client
    new_token: str | None = None
    at: float = 0.0


@dataclass
class FaultPlan:
    """Which checkpoint calls meet which fault.

    ``probability`` of a fault per call, the kind drawn from ``kinds``; or ``script``: the
    fault of each call in order (None: none), for a test that needs every kind to happen.
    A call retried by botocore (same ClientToken) meets at most ``max_in_a_row`` faults,
    so botocore's own retries can always get through; and at most ``invocation_budget``
    faults that fail an invocation happen per execution, well under the service's five
    consecutive failed invocations that fail an execution.
    """

    seed: int = 0
    probability: float = 0.0
    kinds: tuple[str, ...] = FAULTS
    script: list[str | None] | None = None
    max_in_a_row: int = 2
    invocation_budget: int = 2
    _rng: random.Random = field(init=False)
    _calls: int = field(default=0, init=False)
    _per_client_token: dict[str, int] = field(default_factory=dict, init=False)
    _invocation_faults: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def fault_for(self, arn: str, client_token: str | None) -> str | None:
        number, self._calls = self._calls, self._calls + 1
        if self.script is not None:
            fault = self.script[number] if number < len(self.script) else None
        elif self._rng.random() < self.probability:
            fault = self._rng.choice(self.kinds)
        else:
            fault = None
        if fault is None:
            return None
        key = client_token or f"call-{number}"
        if self._per_client_token.get(key, 0) >= self.max_in_a_row:
            return None
        if fault in INVOCATION_FAULTS:
            if self._invocation_faults.get(arn, 0) >= self.invocation_budget:
                return None
            self._invocation_faults[arn] = self._invocation_faults.get(arn, 0) + 1
        self._per_client_token[key] = self._per_client_token.get(key, 0) + 1
        return fault


class FaultProxy:
    """Run with ``with FaultProxy(upstream, plan, stall=...) as proxy:``; ``proxy.url``."""

    def __init__(self, upstream: str, plan: FaultPlan, *, stall: float) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.plan = plan
        self.stall = stall
        self.calls: list[CheckpointCall] = []
        self.tokens: dict[str, list[str]] = {}  # tokens the service handed out, by ARN
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def faults(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for call in self.calls:
            if call.fault:
                counted[call.fault] = counted.get(call.fault, 0) + 1
        return counted

    def acknowledged(self) -> list[CheckpointCall]:
        return [call for call in self.calls if call.acknowledged]

    # -- one request --------------------------------------------------------------------

    def forward(self, method: str, path: str, headers: dict[str, str],
                body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            return response.status, response.getheaders(), payload
        finally:
            connection.close()

    def checkpoint(self, handler: BaseHTTPRequestHandler, body: bytes,
                   headers: dict[str, str]) -> None:
        arn = urllib.parse.unquote(handler.path.split("/durable-executions/", 1)[1]
                                   .rsplit(_CHECKPOINT, 1)[0])
        request = json.loads(body or b"{}")
        with self._lock:
            fault = self.plan.fault_for(arn, request.get("ClientToken"))
            call = CheckpointCall(len(self.calls), arn, request.get("CheckpointToken", ""),
                                  request.get("ClientToken"), request.get("Updates", []),
                                  fault, at=time.time())
            self.calls.append(call)
            earlier = [t for t in self.tokens.get(arn, []) if t != call.token]
        if fault == "throttle":
            _answer(handler, call, 429, "ThrottlingException", "Rate exceeded")
            return
        if fault == "server-error":
            _answer(handler, call, 500, "ServiceException", "Internal failure (injected)")
            return
        if fault == "reset-before":
            _reset(handler)
            return
        if fault == "timeout":
            time.sleep(self.stall)  # the invocation times out meanwhile
        if fault == "stale-token":
            request["CheckpointToken"] = earlier[-1] if earlier else "not-a-token"
            body = json.dumps(request).encode()
        status, response_headers, payload = self.forward("POST", handler.path, headers, body)
        if 200 <= status < 300:
            new_token = json.loads(payload).get("CheckpointToken")
            with self._lock:
                call.new_token = new_token
                if new_token:
                    self.tokens.setdefault(arn, []).append(new_token)
        if fault == "reset-after":
            _reset(handler)
            return
        delivered = _relay(handler, status, response_headers, payload)
        call.status = status
        call.acknowledged = delivered and 200 <= status < 300 and fault != "timeout"


def _handler_class(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            try:
                if self.command == "POST" and self.path.split("?")[0].endswith(_CHECKPOINT):
                    proxy.checkpoint(self, body, headers)
                    return
                status, response_headers, payload = proxy.forward(
                    self.command, self.path, headers, body
                )
                _relay(self, status, response_headers, payload)
            except Exception as error:  # a proxy bug must show, not hang the client
                proxy.errors.append(f"{self.command} {self.path}: {error!r}")
                _reset(self)

        do_GET = do_POST = do_PUT = do_DELETE = _any

    return Handler


def _relay(handler: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]],
           payload: bytes) -> bool:
    try:
        handler.send_response(status)
        for key, value in headers:
            if key.lower() not in _HOP_HEADERS:
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        handler.wfile.flush()
    except OSError:
        return False
    return True


def _answer(handler: BaseHTTPRequestHandler, call: CheckpointCall, status: int, code: str,
            message: str) -> None:
    payload = json.dumps({"__type": code, "message": message}).encode()
    _relay(handler, status, [("Content-Type", "application/json"),
                             ("x-amzn-ErrorType", code)], payload)
    call.status = status


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0), as a dropped connection looks."""
    connection: socket.socket = handler.connection
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
    except OSError:
        pass
    handler.close_connection = True
