"""Load every serve TARGET once, in a throwaway interpreter, before serving.

serve runs each function in its own sandbox, started when first invoked; this check
makes a target that does not load a usage error at start-up (exit 2), and learns each
function's name. Run as ``python -m durable_mp.serve.check [--plain T]... -- T...``; it
prints one JSON line: ``{"functions": {name: [spec, plain]}}`` or ``{"error": message}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from durable_mp.serve.functions import parse_entry

if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="durable_mp.serve.check")
    parser.add_argument("--plain", action="append", default=[])
    parser.add_argument("entries", nargs="*")
    args = parser.parse_args(argv)
    try:
        functions = load_all(args.entries, args.plain)
    except Exception as error:
        print(json.dumps({"error": str(error)}), flush=True)
        return 3
    print(json.dumps({"functions": functions}), flush=True)
    return 0


def load_all(entries: list[str], plain: list[str]) -> dict[str, tuple[str, bool]]:
    """Import every target (a ``TargetError`` message is what the user must fix)."""
    from durable_mp.targets import TargetError, load_target

    functions: dict[str, tuple[str, bool]] = {}
    for text, as_is in [(text, False) for text in entries] + [(text, True) for text in plain]:
        entry = parse_entry(text)
        try:
            target = load_target(entry.spec, plain=as_is)
        except TargetError:
            raise
        except Exception as error:
            raise TargetError(
                f"{entry.spec} failed to import: {type(error).__name__}: {error}"
            ) from error
        name = entry.name or target.function_name
        if name in functions:
            raise TargetError(
                f"two targets are served as '{name}'; name one of them with NAME=TARGET"
            )
        functions[name] = (entry.spec, as_is)
    return functions


if __name__ == "__main__":
    sys.exit(main())
