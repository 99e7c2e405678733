"""Vendor AWS's example suite from a checkout, with only the import prefixes swapped.

    python tests/aws_examples/vendor.py PATH/TO/aws-durable-execution-sdk-python

copies ``packages/aws-durable-execution-sdk-python-examples/{src,test}`` of that checkout
(Apache-2.0, with the repository's LICENSE and NOTICE) into this folder, applies the
minimal ports listed in ``ports.py`` (each one an example that also fails on the
official SDK 3.x; they are applied to AWS's text, so a port can be checked against the
official SDK), writes their diff to ``PORTS.diff``, and then replaces the import
prefixes: ``aws_durable_execution_sdk_python_testing`` becomes ``durable_mp.testing``
and ``aws_durable_execution_sdk_python`` becomes ``durable_mp``. Nothing else changes.
``--no-swap`` leaves the prefixes alone (to run the same files on the official SDK).
Running it again replaces what an earlier run vendored.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ports import PORTS  # noqa: E402 (the script runs as a file, beside its data)

EXAMPLES = Path("packages/aws-durable-execution-sdk-python-examples")
VENDORED = ("src", "test", "LICENSE", "NOTICE", "VENDORED.json", "PORTS.diff")
COPIED_SUFFIXES = {".py", ".md"}
PREFIXES = (
    (re.compile(r"\baws_durable_execution_sdk_python_testing\b"), "durable_mp.testing"),
    (re.compile(r"\baws_durable_execution_sdk_python\b"), "durable_mp"),
)


def swap_prefixes(text: str) -> str:
    """The official packages' import prefixes replaced by durable-mp's (nothing else)."""
    for pattern, replacement in PREFIXES:
        text = pattern.sub(replacement, text)
    return text


def vendor(
    checkout: Path, dest: Path, *, swap: bool = True, commit: str | None = None
) -> list[Path]:
    """Copy, port, swap; the files written."""
    examples = checkout / EXAMPLES
    for needed in (examples / "src", examples / "test", checkout / "LICENSE", checkout / "NOTICE"):
        if not needed.exists():
            raise SystemExit(f"vendor.py: {needed} is missing; is {checkout} a checkout of "
                             "aws/aws-durable-execution-sdk-python?")
    for name in VENDORED:
        target = dest / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    texts: dict[Path, str] = {}
    for folder in ("src", "test"):
        for source in sorted((examples / folder).rglob("*")):
            if source.suffix in COPIED_SUFFIXES and "__pycache__" not in source.parts:
                texts[source.relative_to(examples)] = source.read_text()
    diff = _apply_ports(texts)
    written = []
    for relative, text in texts.items():
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(swap_prefixes(text) if swap else text)
        written.append(target)
    for name in ("LICENSE", "NOTICE"):
        shutil.copyfile(checkout / name, dest / name)
    (dest / "PORTS.diff").write_text(diff)
    (dest / "VENDORED.json").write_text(
        json.dumps({"from": "aws/aws-durable-execution-sdk-python", "commit": commit or _commit(checkout),
                    "folder": str(EXAMPLES), "prefixes_swapped": swap}, indent=2) + "\n"
    )
    return written


def _apply_ports(texts: dict[Path, str]) -> str:
    """Apply each port to AWS's text (it must match exactly); their unified diff."""
    chunks = []
    for port in PORTS:
        path = Path(port.path)
        before = texts.get(path)
        if before is None or port.old not in before:
            raise SystemExit(f"vendor.py: the port of {port.path} no longer applies "
                             f"({port.reason}); review ports.py against the new checkout.")
        after = before.replace(port.old, port.new, 1)
        texts[path] = after
        chunks.append(f"# {port.path}: {port.reason}\n")
        chunks.extend(difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True),
            f"a/{port.path}", f"b/{port.path}",
        ))
    return "".join(chunks)


def _commit(checkout: Path) -> str | None:
    try:
        found = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return found.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a checkout of aws-durable-execution-sdk-python")
    parser.add_argument("--dest", type=Path, default=HERE, help="where to vendor (default: here)")
    parser.add_argument("--no-swap", action="store_true", help="keep the official prefixes")
    parser.add_argument("--commit", help="the checkout's commit, when it is not a git work tree")
    args = parser.parse_args(argv)
    written = vendor(args.checkout, args.dest, swap=not args.no_swap, commit=args.commit)
    print(f"vendored {len(written)} files and {len(PORTS)} ports into {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
