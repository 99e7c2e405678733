"""Runs ``durable-mp serve`` through ``add_serve_parser``/``run_serve`` alone.

The tests use this instead of the ``durable-mp`` entry point so they exercise exactly the
serve command, whatever else the CLI registers.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from durable_mp.serve.command import add_serve_parser


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def main() -> int:
    parser = _OneLineParser(prog="durable-mp")
    commands = parser.add_subparsers(dest="command", parser_class=_OneLineParser)
    commands.required = True
    add_serve_parser(commands)
    args = parser.parse_args()
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
