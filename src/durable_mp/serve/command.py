"""``durable-mp serve``: the command line, start-up and clean shutdown."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_mp.config import STEP_EXECUTORS
from durable_mp.sandbox.config import (
    DEFAULT_MEMORY_MB,
    INIT_TIMEOUT,
    MAX_MEMORY_MB,
    MIN_MEMORY_MB,
)

if TYPE_CHECKING:
    from types import FrameType

    from durable_mp.serve.endpoint import InvokeServer

EXIT_USAGE = 2
DEFAULT_PORT = 8123
DEFAULT_SANDBOXES = 4
DEFAULT_TIMEOUT = 900.0
READ_TIMEOUT = 30.0

DESCRIPTION = """\
Serve durable handlers behind a Lambda Invoke endpoint,
POST /2015-03-31/functions/NAME/invocations, so the durable execution service's local
runner (dex-local-runner start-server --lambda-endpoint http://HOST:PORT) or any Lambda
client can invoke them. Each function runs in sandboxes as Lambda runs it: AWS's runtime
interface client (awslambdaric) in a process talking to a Lambda Runtime API, frozen
between invocations, with the CPU share and memory limit of --memory-size, killed whole
on timeout (Sandbox.Timedout) or out of memory (Runtime.OutOfMemory), a read-only code
directory and /dev/shm, a private /tmp, a non-root user; each where this machine allows
it (a one-line notice says what it does not)."""

EPILOG = """\
TARGET is path/to/file.py:function or package.module:function; the function is served
under its own name, or under NAME when given as NAME=TARGET. A TARGET is made durable
(wrapped with @durable_execution unless it already is); a --plain TARGET is called as is.
With --bundle DIR, TARGETs are Lambda handler strings (module.function) inside DIR, an
unzipped bundle from durable-mp package, run with nothing else on the path.

Handlers checkpoint through boto3, so point them at the durable execution API in
serve's environment; sandboxes inherit it. For dex-local-runner on port 5000:
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
    parser.add_argument("--bundle", type=Path, default=None, metavar="DIR",
                        help="serve handler strings (module.function) of the Lambda bundle "
                             "unzipped in DIR, with nothing else on the path")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT,
                        help="port to listen on; 0 picks a free one (%(default)s)")
    parser.add_argument("--sandboxes", type=_positive_int, default=DEFAULT_SANDBOXES,
                        help="sandboxes alive at once, all functions together; each serves "
                             "one invocation at a time (%(default)s)")
    parser.add_argument("--memory-size", type=_memory_size, default=DEFAULT_MEMORY_MB,
                        metavar="MB",
                        help="each sandbox's memory limit; its CPU share is MB/1769 vCPUs, "
                             "at most 6 (%(default)s)")
    parser.add_argument("--timeout", type=_positive_float, default=DEFAULT_TIMEOUT,
                        help="seconds an invocation may run before its sandbox is killed "
                             "(%(default)g)")
    parser.add_argument("--init-timeout", type=_positive_float, default=INIT_TIMEOUT,
                        help="seconds INIT (importing the handler) may take before it is "
                             "retried within the invocation's timeout (%(default)g)")
    parser.add_argument("--no-freeze", dest="freeze", action="store_false",
                        help="leave sandboxes running between invocations")
    parser.add_argument("--read-timeout", type=_positive_float, default=READ_TIMEOUT,
                        help="seconds a client may take to send a request (%(default)g)")
    parser.add_argument("--executor", choices=STEP_EXECUTORS, default=None,
                        help="where step bodies run, overriding the handlers' choice "
                             "(default: process)")
    parser.add_argument("--workers", type=_positive_int, default=None,
                        help="worker processes per sandbox (default: the sandbox's vCPUs)")
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 2 if the arguments or targets are wrong."""
    from durable_mp.sandbox import InitFailed
    from durable_mp.sandbox.layer import RuntimeClientMissing, ensure_client
    from durable_mp.serve.endpoint import InvokeServer
    from durable_mp.serve.plan import PlanError, plan_functions
    from durable_mp.serve.sandboxes import SandboxPool

    if not args.targets and not args.plain:
        return _usage("nothing to serve; give a TARGET or --plain TARGET")
    try:
        ensure_client()
        functions = plan_functions(args)
    except (PlanError, RuntimeClientMissing) as error:
        return _usage(str(error))
    pool = SandboxPool(functions, args.sandboxes)
    try:
        server = InvokeServer(args.host, args.port, pool, read_timeout=args.read_timeout)
    except OSError as error:
        return _usage(f"cannot listen on {args.host}:{args.port} ({error.strerror or error}); "
                      "choose another --host or --port")
    try:
        with server, _stop_signals() as stop:
            try:
                pool.start_first(next(iter(functions)))
            except InitFailed as error:
                return _usage(f"{next(iter(functions))} does not start: {error}")
            if not stop.is_set():
                _serve_until(stop, server, list(functions))
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


def _memory_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not MIN_MEMORY_MB <= value <= MAX_MEMORY_MB:
        raise argparse.ArgumentTypeError(
            f"expected megabytes from {MIN_MEMORY_MB} to {MAX_MEMORY_MB}, got {text!r}"
        )
    return value
