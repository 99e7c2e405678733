"""The console's HTTP server: the standard library's, one thread per request.

Why not a framework: the console serves one page, a handful of JSON reads, two POST
actions and one server-sent event stream, to one person on loopback. ``http.server``
does that with no dependency to install, audit or keep up with, and the package still
installs with nothing but its runtime dependencies.

Safety (the page can complete callbacks and stop executions):

* it binds 127.0.0.1 unless told otherwise;
* every request needs the random token printed at start (``?token=`` in the URL, as
  Jupyter does, or the ``X-Durable-MP-Token`` header), compared in constant time;
* actions are POSTs that need the token in that header and a JSON body: a form or a
  script on another site can send neither without the token (and a custom header makes
  a cross-origin request need a CORS pre-flight, which is never granted);
* a ``Host`` header that is not the address it serves on is refused (DNS rebinding);
* the page may run only its own inline script and talk only to this server (CSP).
"""

from __future__ import annotations

import hmac
import http.server
import ipaddress
import json
import logging
import secrets
import sqlite3
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, ClassVar

from durable_mp.console.page import render_page
from durable_mp.console.store_view import ConsoleRequestError
from durable_mp.local.store import StoreError

if TYPE_CHECKING:
    from durable_mp.console.store_view import StoreView

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-Durable-MP-Token"
MAX_BODY_BYTES = 2 * 1024 * 1024  # a callback result is at most 1 MiB of JSON text
STREAM_POLL_SECONDS = 0.25
STREAM_KEEPALIVE_SECONDS = 15.0
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
}


class ConsoleServer(http.server.ThreadingHTTPServer):
    """Serves the console for one store; ``serve_forever`` until ``shutdown``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, view: StoreView, host: str = "127.0.0.1", port: int = 0) -> None:
        self.view = view
        self.token = secrets.token_urlsafe(24)
        self.stopping = threading.Event()
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """The address to open, token included."""
        host, port = str(self.server_address[0]), self.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        if shown in ("0.0.0.0", "[::]"):
            shown = "127.0.0.1"
        return f"http://{shown}:{port}/?token={self.token}"

    def shutdown(self) -> None:
        self.stopping.set()  # ends the event streams, which would hold their threads
        super().shutdown()

    def allowed_host(self, header: str | None) -> bool:
        """Whether a request's Host header may name this server.

        DNS rebinding makes a browser send a page's own host name to this address, so
        only addresses, ``localhost`` and the name the server was bound to are taken.
        """
        if not header:
            return False
        host = urllib.parse.urlsplit(f"//{header}").hostname or ""
        if host in ("localhost", str(self.server_address[0])):
            return True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ConsoleServer
    protocol_version = "HTTP/1.1"
    server_version = "durable-mp-console"
    _GET_ROUTES: ClassVar[dict[str, str]] = {
        "/": "_page",
        "/api/executions": "_executions",
        "/api/execution": "_execution",
        "/api/events": "_events",
        "/api/event": "_event",
        "/api/stream": "_stream",
    }
    _POST_ROUTES: ClassVar[dict[str, str]] = {"/api/callback": "_callback", "/api/stop": "_stop"}

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    # -- dispatch ------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch(self._GET_ROUTES, from_query=True)

    def do_POST(self) -> None:
        self._dispatch(self._POST_ROUTES, from_query=False)

    def _dispatch(self, routes: dict[str, str], *, from_query: bool) -> None:
        url = urllib.parse.urlsplit(self.path)
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        try:
            if not self.server.allowed_host(self.headers.get("Host")):
                raise ConsoleRequestError(403, "requests must name this console's own address")
            offered = self.headers.get(TOKEN_HEADER) or (
                self.query.get("token") if from_query else None
            )
            if offered is None or not hmac.compare_digest(offered, self.server.token):
                raise ConsoleRequestError(
                    403,
                    "missing or wrong token: open the URL durable-mp ui printed"
                    if from_query
                    else f"actions need the token in the {TOKEN_HEADER} header",
                )
            handler = routes.get(url.path)
            if handler is None:
                raise ConsoleRequestError(404, f"no such page: {url.path}")
            getattr(self, handler)()
        except ConsoleRequestError as refused:
            if not from_query:
                self.close_connection = True  # the body may be unread
            self._send_json({"error": str(refused)}, refused.status)
        except (StoreError, sqlite3.Error) as error:
            logger.warning("console: store error on %s: %s", url.path, error)
            self._send_json({"error": f"the store could not answer: {error}"}, 503)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- pages and reads -----------------------------------------------------------

    def _page(self) -> None:
        html = render_page({"mode": "live", "readOnly": self.server.view.read_only})
        self._send(html.encode(), "text/html; charset=utf-8")

    def _executions(self) -> None:
        view = self.server.view
        self._send_json({"executions": view.executions(), "readOnly": view.read_only})

    def _execution(self) -> None:
        detail = self.server.view.execution(self._name())
        detail["readOnly"] = self.server.view.read_only
        self._send_json(detail)

    def _events(self) -> None:
        self._send_json(self.server.view.events(self._name()))

    def _event(self) -> None:
        try:
            event_id = int(self.query.get("id", ""))
        except ValueError:
            raise ConsoleRequestError(400, "id must be an event number") from None
        self._send_json(self.server.view.event(self._name(), event_id))

    def _stream(self) -> None:
        """Server-sent events: ``change`` whenever the store changes (polled cheaply)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        for key, value in _SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        self.close_connection = True
        view = self.server.view
        stamp = view.change_stamp()
        self.wfile.write(b"retry: 1000\n\nevent: hello\ndata: {}\n\n")
        self.wfile.flush()
        quiet_since = time.monotonic()
        while not self.server.stopping.wait(STREAM_POLL_SECONDS):
            current = view.change_stamp()
            if current != stamp:
                stamp = current
                self.wfile.write(b"event: change\ndata: {}\n\n")
            elif time.monotonic() - quiet_since > STREAM_KEEPALIVE_SECONDS:
                self.wfile.write(b": keep-alive\n\n")
            else:
                continue
            self.wfile.flush()
            quiet_since = time.monotonic()

    # -- actions -------------------------------------------------------------------

    def _callback(self) -> None:
        body = self._json_body()
        callback_id = body.get("callbackId")
        if not isinstance(callback_id, str) or not callback_id:
            raise ConsoleRequestError(400, "callbackId is required")
        self._send_json(
            self.server.view.callback(callback_id, str(body.get("action", "")), body)
        )

    def _stop(self) -> None:
        body = self._json_body()
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ConsoleRequestError(400, "name is required")
        self._send_json(self.server.view.stop(name, body))

    # -- plumbing ------------------------------------------------------------------

    def _name(self) -> str:
        name = self.query.get("name")
        if not name:
            raise ConsoleRequestError(400, "name is required")
        return name

    def _json_body(self) -> dict[str, Any]:
        if self.headers.get_content_type() != "application/json":
            raise ConsoleRequestError(415, "actions take a JSON body (application/json)")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise ConsoleRequestError(411, "Content-Length is required") from None
        if length > MAX_BODY_BYTES:
            raise ConsoleRequestError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as problem:
            raise ConsoleRequestError(400, f"the body is not JSON ({problem})") from None
        if not isinstance(body, dict):
            raise ConsoleRequestError(400, "the body must be a JSON object")
        return body

    def _send_json(self, value: Any, status: int = 200) -> None:
        self._send(json.dumps(value, separators=(",", ":")).encode(), "application/json", status)

    def _send(self, body: bytes, content_type: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in _SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
