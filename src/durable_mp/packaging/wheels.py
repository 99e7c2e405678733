"""Dependencies as wheels for Lambda's platform, installed into the bundle by pip.

``pip install --target --platform --implementation cp --python-version --only-binary=:all:``
picks manylinux wheels for the function's architecture and Python, whatever this machine
is. A requirement that has no such wheel is built here from source: kept if the wheel is
pure Python (``py3-none-any``), refused with one line naming it if it is native (it would
be built for this machine, not for Lambda).
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ARCHES = {"x86_64": "x86_64", "arm64": "aarch64"}
PYTHONS = ("3.11", "3.12", "3.13", "3.14")
_MISSING = re.compile(r"(?:No matching distribution found for|Could not find a version that "
                      r"satisfies the requirement) ([A-Za-z0-9_.\-]+)")
_MAX_BUILDS = 20


class WheelError(Exception):
    """A dependency cannot be installed for the target platform; the message names it."""


def platform_tags(arch: str, python: str) -> list[str]:
    """manylinux tags Lambda's runtime accepts: glibc 2.26 (Amazon Linux 2, Python 3.11),
    2.34 (Amazon Linux 2023, Python 3.12 and later)."""
    machine = ARCHES[arch]
    newest = 26 if python == "3.11" else 34
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(newest, 16, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def durable_mp_requirements() -> list[str]:
    """durable-mp's own runtime requirements (no extras)."""
    requires = importlib.metadata.requires("durable-mp") or []
    return [r for r in requires if "extra ==" not in r]


def install(requirements: list[str], target: Path, arch: str, python: str) -> None:
    """Install ``requirements`` (names, specifiers or local paths) into ``target``."""
    with tempfile.TemporaryDirectory(prefix="durable-mp-wheels-") as scratch:
        built = Path(scratch)
        wanted = [_prebuilt(r, built, arch, python) if _is_path(r) else r for r in requirements]
        for _ in range(_MAX_BUILDS):
            failure = _pip_install(wanted, target, arch, python, built)
            if failure is None:
                return
            missing = _MISSING.search(failure)
            if missing is None:
                raise WheelError(_last_error(failure))
            name = missing.group(1)
            if any(path.name.lower().startswith(_normal(name)) for path in built.glob("*.whl")):
                raise WheelError(_last_error(failure))
            _build(name, built, arch, python)
        raise WheelError("too many dependencies had to be built from source")


def _pip_install(requirements: list[str], target: Path, arch: str, python: str,
                 built: Path) -> str | None:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-input", "--upgrade", "--target", str(target), "--implementation", "cp",
        "--python-version", python, "--only-binary=:all:", "--find-links", str(built),
    ]
    for tag in platform_tags(arch, python):
        command += ["--platform", tag]
    done = subprocess.run([*command, *requirements], capture_output=True, text=True,
                          check=False)
    return None if done.returncode == 0 else done.stderr + done.stdout


def _prebuilt(requirement: str, built: Path, arch: str, python: str) -> str:
    """A local project (directory or sdist) becomes a wheel now; its path is the requirement."""
    return str(_build(requirement, built, arch, python))


def _build(requirement: str, built: Path, arch: str, python: str) -> Path:
    with tempfile.TemporaryDirectory(prefix="durable-mp-build-") as out:
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                   "--no-input", "--no-deps", "--wheel-dir", out, requirement]
        if not _is_path(requirement):
            command[4:4] = ["--no-binary", requirement]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wheels = list(Path(out).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise WheelError(f"{requirement} has no wheel for Lambda ({_describe(arch, python)}) "
                             f"and does not build from source here: "
                             f"{_last_error(done.stderr + done.stdout)}")
        wheel = wheels[0]
        if not wheel.name.endswith("-none-any.whl"):
            raise WheelError(
                f"{_project(wheel)} has no wheel for Lambda ({_describe(arch, python)}) and is not "
                "pure Python, so a build here would not run there; pin a version that publishes "
                "manylinux wheels, or build it on Amazon Linux for that platform"
            )
        return Path(shutil.copy2(wheel, built / wheel.name))


def _is_path(requirement: str) -> bool:
    return requirement.startswith((".", "/", "~")) or Path(requirement).exists()


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _project(wheel: Path) -> str:
    return wheel.name.split("-", 1)[0]


def _describe(arch: str, python: str) -> str:
    return f"manylinux {ARCHES[arch]}, Python {python}"


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["pip failed"])[-1]
