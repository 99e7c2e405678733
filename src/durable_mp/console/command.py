"""``durable-mp ui`` (serve the console) and ``durable-mp report`` (one execution as a file)."""

from __future__ import annotations

import errno
import ipaddress
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_mp.cli.common import EXIT_SUCCEEDED, UsageError

if TYPE_CHECKING:
    import argparse

    from durable_mp.console.store_view import StoreView


def add_parsers(commands: Any) -> None:
    ui = commands.add_parser(
        "ui",
        help="open the local console over a store in a browser",
        description="Serve the durable-mp console for a store: executions, their timelines "
        "(one lane per worker process), histories and callbacks. It binds 127.0.0.1 and "
        "prints a URL with a random token; every request needs that token.",
    )
    ui.add_argument("--store", metavar="PATH", required=True, help="the SQLite store to show")
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ui.add_argument(
        "--port", type=int, default=0, help="port to bind (default: a free one, printed)"
    )
    ui.add_argument("--open", action="store_true", help="open the console in a web browser")
    ui.add_argument(
        "--read-only",
        action="store_true",
        help="never change the store (no callback or stop buttons); automatic for a store "
        "you cannot write",
    )
    ui.set_defaults(handler=serve_console)

    report = commands.add_parser(
        "report",
        help="write one execution's console view as a self-contained HTML file",
        description="Write the console's view of one execution (timeline, history, input "
        "and output) to one HTML file that opens offline, e.g. to attach to a ticket.",
    )
    report.add_argument("name", metavar="NAME", help="execution name (or ARN)")
    report.add_argument("--store", metavar="PATH", required=True, help="the run's SQLite store")
    report.add_argument("--output", metavar="FILE", required=True, help="the HTML file to write")
    report.set_defaults(handler=write_report)


def open_view(store: str, *, read_only: bool) -> StoreView:
    """The console's view of ``store``, opened as ``durable-mp list`` opens it (the same
    checks and one-line errors), read-only when asked or when it must be."""
    from durable_mp.cli.inspect_cmd import open_existing_store
    from durable_mp.console.store_view import StoreView, must_read_only

    return StoreView(open_existing_store(store, read_only=must_read_only(store, asked=read_only)))


def serve_console(args: argparse.Namespace) -> int:
    from durable_mp.console.server import ConsoleServer

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number (0-65535)")
    view = open_view(args.store, read_only=args.read_only)
    try:
        server = ConsoleServer(view, args.host, args.port)
    except OSError as error:
        view.close()
        if error.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {args.port} on {args.host} is in use; choose another --port "
                "(or leave it out for a free one)"
            ) from None
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error}") from None
    if not _is_loopback(args.host):
        print(
            f"durable-mp ui: listening on {args.host}, reachable from other machines; "
            "anyone with the URL can act on this store",
            file=sys.stderr,
        )
    mode = " (read-only)" if view.read_only else ""
    print(f"durable-mp console for {args.store}{mode}: {server.url}", flush=True)
    print("Press Ctrl-C to stop.", file=sys.stderr, flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("durable-mp ui: stopped", file=sys.stderr)
    finally:
        server.stopping.set()
        server.server_close()
        view.close()
    return EXIT_SUCCEEDED


def write_report(args: argparse.Namespace) -> int:
    from durable_mp.console.page import render_page
    from durable_mp.console.store_view import ConsoleRequestError

    view = open_view(args.store, read_only=True)
    try:
        try:
            detail = view.execution(args.name)
        except ConsoleRequestError:
            raise UsageError(
                f"no execution named '{args.name}' in {args.store}; see durable-mp list --store"
            ) from None
        name = detail["summary"]["name"]
        boot = {
            "mode": "report",
            "execution": detail | {"readOnly": True},
            "events": view.events(name),
            "history": view.full_history(name),
            "generated": time.time(),
            "store": Path(args.store).name,
        }
    finally:
        view.close()
    html = render_page(boot, title=f"{name} · durable-mp report")
    try:
        Path(args.output).write_text(html, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"--output {args.output}: cannot write it ({error.strerror})") from None
    operations = len(detail["timeline"]["ops"]["id"])
    print(
        f"wrote {args.output}: execution {name} ({detail['summary']['status']}, "
        f"{operations} operations, {detail['eventCount']} events)",
        file=sys.stderr,
    )
    return EXIT_SUCCEEDED


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
