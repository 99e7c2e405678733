"""``durable-mp package`` and the README's deploy commands, run as written.

The wheels come from the package index (pip's cache makes reruns fast); everything else
is built here. The bundle's run under awslambdaric against dex-local-runner is the
conformance suite's "dex" target (tests/conformance/stack.py builds it with this command).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DEPLOY = README[README.index("## Deploying the same handler to Lambda"):]
DEPLOY = DEPLOY[:DEPLOY.index("\n## ", 3)]
ELF_MACHINE = {"x86_64": 62, "arm64": 183}


def commands_in_the_deploy_section() -> list[str]:
    blocks = re.findall(r"```\n(.*?)```", DEPLOY, flags=re.S)
    return [line.strip() for block in blocks for line in block.strip().splitlines()]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    if command[0] == "durable-mp":
        command = [sys.executable, "-m", "durable_mp", *command[1:]]
    elif command[0] == "cfn-lint":
        command = [str(Path(sys.executable).with_name("cfn-lint")), *command[1:]]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900,
                          check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "examples", copy / "examples",
                    ignore=shutil.ignore_patterns("__pycache__", "*.zip"))
    return copy


def elf_machines(archive: zipfile.ZipFile, prefix: str) -> set[int]:
    machines = set()
    for name in archive.namelist():
        if name.startswith(prefix) and name.endswith(".so"):
            header = archive.read(name)[:20]
            assert header[:4] == b"\x7fELF", name
            machines.add(int.from_bytes(header[18:20], "little"))
    return machines


def test_every_offline_command_of_the_deploy_section_runs_as_written(project):
    commands = commands_in_the_deploy_section()
    offline = [c for c in commands if c.split()[0] in ("durable-mp", "cfn-lint")]
    assert [c.split()[0] for c in offline] == ["durable-mp", "cfn-lint"], commands
    assert [c for c in commands if c not in offline] == [
        c for c in commands if c.startswith("sam deploy")]  # the one that needs AWS
    package = run(shlex.split(offline[0]), project)
    assert package.returncode == 0, package.stderr
    assert package.stdout == "primes.handler\n"
    assert "primes.handler" in (ROOT / "examples/sam/template.yaml").read_text()
    assert "--handler primes.handler" in (ROOT / "examples/sam/deploy-cli.sh").read_text()
    with zipfile.ZipFile(project / "examples/sam/bundle.zip") as archive:
        names = set(archive.namelist())
        assert {"primes.py", "durable_mp/__init__.py",
                "cloudpickle/__init__.py", "boto3/__init__.py", "psutil/__init__.py"} <= names
        assert not [n for n in names if n.endswith(".zip")]
        assert elf_machines(archive, "psutil/") == {ELF_MACHINE["x86_64"]}
    lint = run(shlex.split(offline[1]), ROOT)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def write_project(directory: Path, name: str, native: bool) -> Path:
    """A local project with no wheel anywhere: pure Python, or with a C extension."""
    directory.mkdir()
    (directory / name).mkdir()
    (directory / name / "__init__.py").write_text("VALUE = 42\n")
    extension = (
        f"ext_modules=[Extension('{name}._speed', ['{name}/_speed.c'])],"
        if native else ""
    )
    if native:
        (directory / name / "_speed.c").write_text(textwrap.dedent("""
            #include <Python.h>
            static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "_speed", 0, -1, 0};
            PyMODINIT_FUNC PyInit__speed(void) { return PyModule_Create(&m); }
        """))
    (directory / "setup.py").write_text(textwrap.dedent(f"""
        from setuptools import Extension, setup
        setup(name="{name.replace('_', '-')}", version="1.0", packages=["{name}"], {extension})
    """))
    return directory


def test_arm64_wheels_this_pythons_bytecode_and_a_pure_dependency_built_here(project, tmp_path):
    """An arm64 bundle gets aarch64 wheels; a pure-Python project without a wheel is built."""
    write_project(tmp_path / "pure", "dmp_pure_demo", native=False)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{tmp_path / 'pure'}\n")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    output = tmp_path / "arm.zip"
    done = run(["durable-mp", "package", "examples/quickstart.py:handler", "--output",
                str(output), "--arch", "arm64", "--python", python,
                "--requirements", str(requirements)], project)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "quickstart.handler\n"
    with zipfile.ZipFile(output) as archive:
        assert elf_machines(archive, "psutil/") == {ELF_MACHINE["arm64"]}
        tag = f"cpython-{python.replace('.', '')}"
        assert f"durable_mp/__pycache__/__init__.{tag}.pyc" in archive.namelist()
        assert "dmp_pure_demo/__init__.py" in archive.namelist()


def test_a_native_dependency_without_a_wheel_is_one_line_naming_it(project, tmp_path):
    write_project(tmp_path / "native", "dmp_native_demo", native=True)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{tmp_path / 'native'}\n")
    done = run(["durable-mp", "package", "examples/quickstart.py:handler", "--output",
                str(tmp_path / "b.zip"), "--requirements", str(requirements)], project)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("durable-mp package: ")
    assert "dmp_native_demo" in lines[0].replace("-", "_"), lines[0]
    assert not (tmp_path / "b.zip").exists()


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("def handler(event, context):\n    return 1\n", "app.py:handler",
         "is not decorated with @durable_execution"),
        ("", "missing.py:handler", "missing.py: no such file"),
        ("", "app.py", "is not a target"),
    ],
)
def test_targets_that_cannot_be_packaged_are_one_line(tmp_path, source, target, message):
    (tmp_path / "app.py").write_text(source)
    done = run(["durable-mp", "package", target, "--output", str(tmp_path / "b.zip")],
               tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == done.stderr.strip().splitlines()[0]
    assert message in done.stderr
