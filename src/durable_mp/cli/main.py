"""``durable-mp``: run durable handlers locally, inspect executions, complete their
callbacks, stop them, serve handlers.

Usage errors (a bad target, bad JSON, an unknown execution) print one line on stderr
that says what to fix, and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from durable_mp.__about__ import __version__
from durable_mp.cli.common import EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (its default prints the whole usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from durable_mp.cli import control_cmd, inspect_cmd, run_cmd
    from durable_mp.console import command as console_command

    parser = _Parser(
        prog="durable-mp",
        description="Run AWS Lambda durable handlers locally with step bodies in worker processes.",
    )
    parser.add_argument("--version", action="version", version=f"durable-mp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    run_cmd.add_parser(commands)
    inspect_cmd.add_parsers(commands)
    control_cmd.add_parsers(commands)
    console_command.add_parsers(commands)
    try:
        from durable_mp.serve import command as serve_command
    except ImportError:  # pragma: no cover - serve is optional while it is being built
        pass
    else:
        serve_command.add_serve_parser(commands)
    from durable_mp.packaging.command import add_package_parser

    add_package_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        return _reader_went_away()
    except UsageError as error:
        print(f"durable-mp {args.command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:
        from durable_mp.local.store import StoreError

        if not isinstance(error, StoreError):
            raise
        print(f"durable-mp {args.command}: {error}", file=sys.stderr)  # disk full, ...
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"durable-mp {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


def _reader_went_away() -> int:
    """``durable-mp history ... | head``: the reader closed the pipe, which is no error
    of ours. Quietly, as a command killed by SIGPIPE (the shell shows 141)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush at exit
    os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
