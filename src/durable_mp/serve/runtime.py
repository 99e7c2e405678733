"""One sandbox's runtime process: load the targets once, then run invocation after invocation.

Started by ``serve`` as ``python -m durable_mp.serve.runtime --fd N ... TARGET...``. Like a
Lambda runtime it stays warm: module state, the boto3 client and the step worker pool
(started by the first process-mode step) live from one invocation to the next. It talks
to ``serve`` only over the socket ``--fd`` (see ``wire``); stdout and stderr belong to the
user's code. It exits when ``serve`` closes the socket, sends SIGTERM, or dies.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from durable_mp.serve import wire
from durable_mp.serve.functions import parse_entry

Handler = Callable[[Any, Any], Any]
_WATCH_INTERVAL = 0.5


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    sock = socket.socket(fileno=args.fd)
    os.set_inheritable(args.fd, False)  # user subprocesses must not keep the socket open
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # serve decides what Ctrl-C does
    _watch_parent(args.parent_pid)
    try:
        handlers = _load(args.entries, args.executor, args.workers, args.plain)
    except Exception as error:
        wire.send(sock, {"op": "failed", "message": str(error)})
        return 3
    _prewarm()
    try:
        wire.send(sock, {"op": "ready", "pid": os.getpid(), "functions": list(handlers)})
        while True:
            header, body = wire.receive(sock)
            reply, payload = _invoke(handlers, header, body)
            _flush_output()
            wire.send(sock, reply, payload)
    except wire.PeerGone:
        return 0  # serve closed the socket: shut down (atexit stops the worker pool)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the shutdown finish


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="durable_mp.serve.runtime")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--executor", default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--plain", action="append", default=[])
    parser.add_argument("entries", nargs="*")
    return parser.parse_args(argv)


def _load(
    entries: list[str], executor: Any, workers: int | None, plain: list[str]
) -> dict[str, Handler]:
    """Import every target (a ``TargetError`` message is what the user must fix).

    ``plain`` targets are called as they are: Lambda handlers that are not durable, or
    that another SDK already made durable.
    """
    from durable_mp.targets import TargetError, load_target

    handlers: dict[str, Handler] = {}
    for text, as_is in [(text, False) for text in entries] + [(text, True) for text in plain]:
        entry = parse_entry(text)
        try:
            target = load_target(
                entry.spec, step_executor=executor, workers=workers, plain=as_is
            )
        except TargetError:
            raise
        except Exception as error:
            raise TargetError(
                f"{entry.spec} failed to import: {type(error).__name__}: {error}"
            ) from error
        name = entry.name or target.function_name
        if name in handlers:
            raise TargetError(
                f"two targets are served as '{name}'; name one of them with NAME=TARGET"
            )
        handlers[name] = target.lambda_handler
    return handlers


def _prewarm() -> None:
    """Build the shared boto3 client now (Lambda's init phase), not in the first invocation."""
    from durable_mp.service_client import LambdaServiceClient

    with contextlib.suppress(Exception):  # e.g. no region: the invocation will say so
        LambdaServiceClient.from_environment()


def _invoke(
    handlers: dict[str, Handler], header: wire.Header, body: bytes
) -> tuple[wire.Header, bytes]:
    from durable_mp.types import LocalLambdaContext

    context = LocalLambdaContext(**header["context"])
    try:
        event = json.loads(body) if body.strip() else {}
        output = handlers[header["function"]](event, context)
    except Exception as error:
        return _error_reply(error), b""
    try:
        payload = json.dumps(output).encode()
    except (TypeError, ValueError) as error:
        message = f"Unable to marshal response: {error}"
        print(f"[ERROR] Runtime.MarshalError: {message}", file=sys.stderr)
        return {"op": "error", "errorType": "Runtime.MarshalError", "errorMessage": message}, b""
    return {"op": "result"}, payload


def _error_reply(error: Exception) -> wire.Header:
    """Lambda's Python runtime shape: class name, message, frames below the runtime."""
    frames = traceback.extract_tb(error.__traceback__)[1:]
    stack = traceback.format_list(frames)
    print(
        f"[ERROR] {type(error).__name__}: {error}\nTraceback (most recent call last):\n"
        + "".join(stack),
        file=sys.stderr,
    )
    return {
        "op": "error",
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": stack,
    }


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(0)  # unwinds the handler, then atexit shuts the worker pool down


def _watch_parent(parent_pid: int) -> None:
    """Terminate when ``serve`` is gone, even in the middle of an invocation."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_WATCH_INTERVAL)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="durable-mp-serve-watchdog", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
