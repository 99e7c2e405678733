"""``durable-mp package TARGET --output bundle.zip``: build a Lambda deployment zip."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import durable_mp
from durable_mp.packaging import archive, code, wheels

EXIT_USAGE = 2
ZIP_LIMIT = 50 * 1024 * 1024  # Lambda's limit for a zip uploaded directly
UNZIPPED_LIMIT = 250 * 1024 * 1024

EPILOG = """\
The zip holds your code, durable-mp and its dependencies (cloudpickle, boto3, psutil)
and any --requirements, as manylinux wheels for --arch and --python whatever this machine
is. Set the function's handler to the string printed on stdout, e.g.
  durable-mp package app.py:handler --output bundle.zip --arch arm64 --python 3.13"""


def add_package_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "package", help="build a Lambda deployment zip of a durable handler",
        description="Build a Lambda deployment zip of a @durable_execution handler.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="TARGET",
                        help="path/to/app.py:handler or package.module:handler")
    parser.add_argument("--output", "-o", type=Path, required=True, metavar="ZIP")
    parser.add_argument("--arch", choices=sorted(wheels.ARCHES), default="x86_64",
                        help="the function's architecture (%(default)s)")
    parser.add_argument("--python", choices=wheels.PYTHONS, default="3.13",
                        help="the function's runtime, python3.X (%(default)s)")
    parser.add_argument("--requirements", "-r", type=Path, default=None, metavar="FILE",
                        help="your dependencies, one requirement per line")
    parser.set_defaults(handler=run_package)


def run_package(args: argparse.Namespace) -> int:
    try:
        handler, size, unzipped = build(args.target, args.output, args.arch, args.python,
                                        args.requirements)
    except (code.CodeError, wheels.WheelError, OSError) as error:
        return _fail(str(error))
    note = "" if unzipped <= UNZIPPED_LIMIT else " (over Lambda's 250 MB unzipped limit)"
    if size > ZIP_LIMIT:
        note += " (over 50 MB: upload it through S3)"
    print(f"durable-mp package: wrote {args.output} ({size / 1e6:.1f} MB, {args.arch}, "
          f"python{args.python}){note}; handler:", file=sys.stderr)
    print(handler)
    return 0


def build(target: str, output: Path, arch: str, python: str,
          requirements_file: Path | None) -> tuple[str, int, int]:
    """Build the zip; (handler string, zip size, unzipped size)."""
    user = code.locate(target, Path.cwd())
    requirements = wheels.durable_mp_requirements()
    if requirements_file is not None:
        requirements += _read_requirements(requirements_file)
    with tempfile.TemporaryDirectory(prefix="durable-mp-package-") as scratch:
        staging = Path(scratch) / "bundle"
        staging.mkdir()
        wheels.install(requirements, staging, arch, python)
        _copy_durable_mp(staging)
        code.copy_into(user, staging, exclude={output.resolve()})
        archive.compile_for(staging, python)
        unzipped = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
        size = archive.write_zip(staging, output)
    return user.handler, size, unzipped


def _copy_durable_mp(staging: Path) -> None:
    """durable-mp itself, from this installation (it is pure Python)."""
    source = Path(durable_mp.__file__).parent
    shutil.copytree(source, staging / "durable_mp", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _read_requirements(path: Path) -> list[str]:
    if not path.is_file():
        raise code.CodeError(f"--requirements {path}: no such file")
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            if line.startswith(("-", "--")):
                raise code.CodeError(f"{path}: options such as {line.split()[0]} are not "
                                     "supported; list one requirement per line")
            if line.startswith("."):
                line = str((path.parent / line).resolve())
            lines.append(line)
    return lines


def _fail(message: str) -> int:
    print(f"durable-mp package: {message}", file=sys.stderr)
    return EXIT_USAGE
