"""The user's side of a bundle: which files go in, and the handler string Lambda calls.

A ``path/to/app.py:handler`` target brings its whole directory (as a SAM ``CodeUri``
does) and is called as ``app.handler``; a ``package.module:handler`` target brings the
top-level package (or module) from the working directory and is called as
``package.module.handler``. Lambda calls the handler directly, so it must be a
``@durable_execution`` handler: a function defined without the decorator is refused.
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

_ATTRIBUTE = re.compile(r"[A-Za-z_][\w-]*")  # what getattr finds (a module __getattr__ too)
SKIPPED_DIRS = {"__pycache__", "node_modules", ".git", ".venv", "venv", ".tox", ".mypy_cache",
                ".pytest_cache", ".ruff_cache", "build", "dist"}


class CodeError(Exception):
    """The target cannot be packaged; the message says what to fix."""


@dataclass(frozen=True)
class UserCode:
    handler: str  # what Lambda's Handler setting must say
    sources: list[tuple[Path, str]]  # (file or directory, name in the bundle)


def locate(target: str, cwd: Path) -> UserCode:
    module_part, sep, attribute = target.rpartition(":")
    if not sep or not module_part or not _ATTRIBUTE.fullmatch(attribute):
        raise CodeError(f"'{target}' is not a target; write path/to/app.py:handler or "
                        "package.module:handler")
    if module_part.endswith(".py") or "/" in module_part:
        path = (cwd / module_part).resolve()
        if not path.is_file():
            raise CodeError(f"{module_part}: no such file")
        _check_durable(path, attribute, target)
        return UserCode(f"{path.stem}.{attribute}", [(path.parent, "")])
    top = module_part.split(".")[0]
    package = cwd / top
    module_file = cwd / Path(*module_part.split(".")).with_suffix(".py")
    if not module_file.is_file():
        module_file = cwd / Path(*module_part.split(".")) / "__init__.py"
    if not module_file.is_file():
        raise CodeError(f"cannot find module '{module_part}' under {cwd}; run from the "
                        "directory that holds it, or give path/to/app.py:handler")
    _check_durable(module_file, attribute, target)
    source = package if package.is_dir() else cwd / f"{top}.py"
    return UserCode(f"{module_part}.{attribute}", [(source, source.name)])


def _check_durable(path: Path, attribute: str, target: str) -> None:
    """Refuse a handler that is plainly not durable; allow what cannot be seen statically."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as error:
        raise CodeError(f"{path}: {error.msg} (line {error.lineno})") from None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == attribute:
            if not any("durable_execution" in ast.unparse(d) for d in node.decorator_list):
                raise CodeError(
                    f"{target} is not decorated with @durable_execution; Lambda calls the "
                    "handler directly, so decorate it (from durable_mp import durable_execution)"
                )
            return
    # Assigned (handler = durable_execution(fn)), imported, or made by a module __getattr__.


def copy_into(code: UserCode, staging: Path, exclude: set[Path]) -> None:
    for source, name in code.sources:
        if source.is_file():
            shutil.copy2(source, staging / name)
            continue
        destination = staging / name if name else staging
        shutil.copytree(source, destination, dirs_exist_ok=True,
                        ignore=_ignore(exclude), symlinks=False)


def _ignore(exclude: set[Path]) -> Callable[[str, list[str]], set[str]]:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set()
        for name in names:
            path = Path(directory) / name
            if (name in SKIPPED_DIRS or name.startswith(".") or name.endswith((".pyc", ".zip"))
                    or path.resolve() in exclude or (path / "pyvenv.cfg").exists()):
                skipped.add(name)
        return skipped

    return ignore
