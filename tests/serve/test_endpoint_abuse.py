"""``durable-mp serve`` under abuse: bursts, broken framing, slow clients, huge bodies.

Requests that never reach a handler (DryRun, unknown functions, bad framing) exercise the
HTTP layer alone. Every test ends by checking that no request thread is left blocked and
that serve's log holds no traceback.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import psutil

from tests.serve.helpers import HANDLERS

WHOAMI = f"{HANDLERS}:whoami"
PATH = "/2015-03-31/functions/whoami/invocations"


def raw_request(port: int, head: str, body: bytes = b"", timeout: float = 10.0,
                keep_open: float = 0.0) -> tuple[int, dict[str, str], dict]:
    """Send ``head`` (request line and headers) and ``body`` as they are; the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        if keep_open:
            time.sleep(keep_open)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {data!r}"
            data += chunk
        header_text, _, rest = data.partition(b"\r\n\r\n")
        lines = header_text.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return status, headers, json.loads(rest) if rest else {}


def head(content_length: str | None) -> str:
    lines = [f"POST {PATH} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    return "\r\n".join(lines) + "\r\n"


def quiet_and_idle(serve, threads_before: int) -> None:
    deadline = time.monotonic() + 10
    while psutil.Process(serve.pid).num_threads() > threads_before:
        assert time.monotonic() < deadline, "a request thread is still blocked"
        time.sleep(0.1)
    assert not [line for line in serve.errors if "Traceback" in line], serve.errors


def test_a_burst_of_200_concurrent_requests_gets_no_connection_reset(start_serve):
    serve = start_serve(WHOAMI)
    threads_before = psutil.Process(serve.pid).num_threads()
    barrier = threading.Barrier(200)
    outcomes: list[object] = []

    def one() -> None:
        barrier.wait()
        try:
            status, _, _ = raw_request(
                serve.port, head("2") + "X-Amz-Invocation-Type: DryRun\r\n", b"{}", timeout=60)
            outcomes.append(status)
        except OSError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert outcomes.count(204) == 200, [o for o in outcomes if o != 204][:5]
    quiet_and_idle(serve, threads_before)


def test_broken_content_length_is_a_400_with_a_lambda_error_body(start_serve):
    serve = start_serve(WHOAMI, "--read-timeout", "1")
    threads_before = psutil.Process(serve.pid).num_threads()
    for value in (None, "-5", "abc", "1e3"):
        status, headers, body = raw_request(serve.port, head(value), b"{}")
        assert status == 400, (value, status, body)
        assert headers["x-amzn-errortype"] == "InvalidRequestContentException"
        assert set(body) == {"Type", "message"} and body["Type"] == "User", body
    started = time.monotonic()
    status, headers, body = raw_request(serve.port, head("100"), b'{"short": 1}', keep_open=0)
    assert status == 400 and "short of its Content-Length" in body["message"], body
    assert time.monotonic() - started < 10  # the read timed out (1 s); nothing waited for ever
    quiet_and_idle(serve, threads_before)


def test_a_client_that_sends_headers_and_stalls_is_cut_off(start_serve):
    serve = start_serve(WHOAMI, "--read-timeout", "1")
    threads_before = psutil.Process(serve.pid).num_threads()
    with socket.create_connection(("127.0.0.1", serve.port), timeout=10) as sock:
        sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\n".encode())  # never finishes
        started = time.monotonic()
        while sock.recv(65536):
            pass
        assert time.monotonic() - started < 8
    quiet_and_idle(serve, threads_before)


def test_a_body_over_6_mb_gets_its_413(start_serve):
    serve = start_serve(WHOAMI)
    threads_before = psutil.Process(serve.pid).num_threads()
    body = b'"' + b"x" * (7 * 1024 * 1024) + b'"'
    status, headers, answer = raw_request(serve.port, head(str(len(body))), body, timeout=30)
    assert status == 413, answer
    assert headers["x-amzn-errortype"] == "RequestTooLargeException"
    assert "smaller than 6291456 bytes" in answer["message"]
    quiet_and_idle(serve, threads_before)
