"""``durable-mp serve``: the command line, start-up and clean shutdown."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from durable_mp.config import STEP_EXECUTORS

if TYPE_CHECKING:
    from types import FrameType

    from durable_mp.serve.endpoint import InvokeServer

EXIT_USAGE = 2
DEFAULT_PORT = 8123
DEFAULT_SANDBOXES = 4
DEFAULT_TIMEOUT = 900.0

DESCRIPTION = """\
Serve durable handlers behind a Lambda Invoke endpoint,
POST /2015-03-31/functions/NAME/invocations, so the durable execution service's local
runner (dex-local-runner start-server --lambda-endpoint http://HOST:PORT) or any Lambda
client can invoke them. Each sandbox is a warm runtime process serving one invocation at
a time, with its own step worker pool; a runtime that dies fails its invocation with
Runtime.ExitError, as on Lambda, and the next invocation gets a fresh one."""

EPILOG = """\
TARGET is path/to/file.py:function or package.module:function; the function is served
under its own name, or under NAME when given as NAME=TARGET. A TARGET is made durable
(wrapped with @durable_execution unless it already is); a --plain TARGET is called as is.

Handlers checkpoint through boto3, so point them at the durable execution API in
serve's environment; runtimes inherit it. For dex-local-runner on port 5000:
  AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=x \\
  AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=us-west-2 durable-mp serve app.py:handler"""


def add_serve_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``serve`` on the ``durable-mp`` command line."""
    parser = subparsers.add_parser(
        "serve",
        help="serve durable handlers behind a Lambda Invoke HTTP endpoint",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("targets", nargs="*", metavar="[NAME=]TARGET",
                        help="a durable handler to serve")
    parser.add_argument("--plain", action="append", default=[], metavar="[NAME=]TARGET",
                        help="serve TARGET as it is, a Lambda handler(event, context) "
                             "that is not made durable: a chained-invoke target, or a "
                             "handler another SDK made durable (repeatable)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT,
                        help="port to listen on; 0 picks a free one (%(default)s)")
    parser.add_argument("--sandboxes", type=_positive_int, default=DEFAULT_SANDBOXES,
                        help="concurrent invocations, one runtime process each (%(default)s)")
    parser.add_argument("--executor", choices=STEP_EXECUTORS, default=None,
                        help="where step bodies run, overriding the handlers' choice "
                             "(default: process)")
    parser.add_argument("--workers", type=_positive_int, default=None,
                        help="worker processes per sandbox (default: the usable CPUs)")
    parser.add_argument("--timeout", type=_positive_float, default=DEFAULT_TIMEOUT,
                        help="seconds an invocation may run before its runtime is killed "
                             "(%(default)g)")
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 2 if the arguments or targets are wrong."""
    from durable_mp.serve.endpoint import InvokeServer
    from durable_mp.serve.functions import parse_entry
    from durable_mp.serve.sandbox import SandboxFailed
    from durable_mp.serve.sandboxes import SandboxPool

    if not args.targets and not args.plain:
        return _usage("nothing to serve; give a TARGET or --plain TARGET")
    try:
        entries = [parse_entry(text).as_argument() for text in args.targets]
        plain = [parse_entry(text).as_argument() for text in args.plain]
    except ValueError as error:
        return _usage(str(error))
    pool = SandboxPool(entries, args.sandboxes, executor=args.executor, workers=args.workers,
                       timeout=args.timeout, plain=plain)
    try:
        server = InvokeServer(args.host, args.port, pool)
    except OSError as error:
        return _usage(f"cannot listen on {args.host}:{args.port} ({error.strerror or error}); "
                      "choose another --host or --port")
    try:
        with server, _stop_signals() as stop:
            try:
                functions = pool.start_first()
            except SandboxFailed as error:
                return _usage(str(error))
            server.functions = frozenset(functions)
            if not stop.is_set():
                _serve_until(stop, server, functions)
        return 0
    finally:
        pool.close()


def _serve_until(stop: threading.Event, server: InvokeServer, functions: list[str]) -> None:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="durable-mp-serve-http", daemon=True)
    thread.start()
    host, port = str(server.server_address[0]), server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"durable-mp serve: {len(functions)} function(s) at http://{shown}:{port} "
          f"({', '.join(functions)})", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    thread.join()


def _usage(message: str) -> int:
    print(f"durable-mp serve: {message}", file=sys.stderr)
    return EXIT_USAGE


@contextlib.contextmanager
def _stop_signals() -> Any:
    """An event set by SIGINT or SIGTERM (signals can be caught on the main thread only)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return value
