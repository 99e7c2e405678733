"""mypy --strict and ruff must stay clean on the package (part of the README test command)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    assert found, f"{name} is not installed; install the test extra: pip install '.[test]'"
    return found


def test_mypy_strict_is_clean():
    result = subprocess.run(
        [_tool("mypy"), "--strict", "src/durable_mp"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    result = subprocess.run(
        [_tool("ruff"), "check", "src", "tests", "examples", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Import cycles allowed, each with the reason it cannot be avoided.
ALLOWED_IMPORT_CYCLES: list[list[str]] = []


def test_no_import_cycles():
    from tests.support.imports import cycles, import_graph

    found = cycles(import_graph(ROOT / "src" / "durable_mp"))
    unexpected = [cycle for cycle in found if cycle not in ALLOWED_IMPORT_CYCLES]
    assert not unexpected, "import cycles (TYPE_CHECKING and function-level imports count):\n" + (
        "\n".join(" <-> ".join(cycle) for cycle in unexpected)
    )


def test_the_cycle_finder_sees_lazy_and_type_only_imports(tmp_path):
    from tests.support.imports import cycles, import_graph

    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n")
    (package / "b.py").write_text("def f():\n    from pkg import c\n")
    (package / "c.py").write_text("from . import a\n")
    (package / "d.py").write_text("import pkg.a\n")
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.b", "pkg.c"]]
