"""From serve's arguments to one :class:`FunctionConfig` per served function.

A TARGET is loaded once in a throwaway interpreter (``check``) to fail fast and learn its
name; each function's sandboxes then run ``durable_mp.serve.entry`` under awslambdaric
with the TARGET in their environment. With ``--bundle DIR`` the TARGETs are handler
strings of an unzipped Lambda bundle, run bare (nothing else on the path).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_mp.sandbox import FunctionConfig
from durable_mp.serve.functions import (
    ENTRY_HANDLER,
    EXECUTOR_ENV,
    NAME_PATTERN,
    PLAIN_ENV,
    TARGET_ENV,
    WORKERS_ENV,
    parse_entry,
)

if TYPE_CHECKING:
    import argparse

CHECK_TIMEOUT = 120.0
INIT_WORKERS_ENV = "DURABLE_MP_INIT_WORKERS"
_HANDLER_STRING = re.compile(r"[A-Za-z_][\w/.]*\.[A-Za-z_][\w-]*")


class PlanError(Exception):
    """The targets cannot be served; the message says what to fix."""


def plan_functions(args: argparse.Namespace) -> dict[str, FunctionConfig]:
    common: dict[str, Any] = {
        "memory_mb": args.memory_size,
        "timeout": args.timeout,
        "init_timeout": args.init_timeout,
        "freeze": args.freeze,
    }
    if args.bundle is not None:
        return _bundle_functions(args, common)
    functions = _checked(args.targets, args.plain)
    configs: dict[str, FunctionConfig] = {}
    for name, (spec, plain) in functions.items():
        environment = {TARGET_ENV: _absolute(spec)}
        if plain:
            environment[PLAIN_ENV] = "1"
        if args.executor:
            environment[EXECUTOR_ENV] = args.executor
        if args.workers:
            environment[WORKERS_ENV] = str(args.workers)
        configs[name] = FunctionConfig(
            name=name, handler=ENTRY_HANDLER, task_root=_code_directory(spec),
            environment=environment, **common,
        )
    return configs


def _bundle_functions(
    args: argparse.Namespace, common: dict[str, Any]
) -> dict[str, FunctionConfig]:
    bundle = args.bundle.expanduser().resolve()
    if not bundle.is_dir():
        raise PlanError(f"--bundle {args.bundle}: no such directory (unzip the bundle there)")
    if args.executor or args.workers:
        raise PlanError("--executor and --workers do not apply to --bundle: the bundle's "
                        "handlers are run as they are")
    configs: dict[str, FunctionConfig] = {}
    for text in [*args.targets, *args.plain]:
        try:
            parsed = parse_entry(text)
        except ValueError as error:
            raise PlanError(str(error)) from None
        if not _HANDLER_STRING.fullmatch(parsed.spec):
            raise PlanError(f"'{parsed.spec}' is not a Lambda handler string; write "
                            "module.function (as durable-mp package prints it)")
        name = parsed.name or _name_of(parsed.spec.rsplit(".", 1)[1])
        if name in configs:
            raise PlanError(f"two handlers are served as '{name}'; name one with NAME=HANDLER")
        configs[name] = FunctionConfig(
            name=name, handler=parsed.spec, task_root=bundle, bare=True, **common
        )
    return configs


def _checked(targets: list[str], plain: list[str]) -> dict[str, tuple[str, bool]]:
    try:
        for text in [*targets, *plain]:
            parse_entry(text)
    except ValueError as error:
        raise PlanError(str(error)) from None
    command = [sys.executable, "-m", "durable_mp.serve.check"]
    for text in plain:
        command += ["--plain", text]
    env = {**os.environ, INIT_WORKERS_ENV: "0"}
    try:
        done = subprocess.run(
            [*command, "--", *targets], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, timeout=CHECK_TIMEOUT, check=False,
        )
    except subprocess.TimeoutExpired:
        raise PlanError(f"loading the targets took over {CHECK_TIMEOUT:.0f} s") from None
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise PlanError(f"loading the targets failed (exit status {done.returncode})") from None
    if "error" in answer:
        raise PlanError(str(answer["error"]))
    return {name: (spec, bool(plain)) for name, (spec, plain) in answer["functions"].items()}


def _absolute(spec: str) -> str:
    module_part, _, attribute = spec.rpartition(":")
    if module_part.endswith(".py") or "/" in module_part or os.sep in module_part:
        return f"{Path(module_part).expanduser().resolve()}:{attribute}"
    return spec


def _code_directory(spec: str) -> Path:
    """LAMBDA_TASK_ROOT: a file target's directory, else the working directory."""
    module_part = spec.rpartition(":")[0]
    if module_part.endswith(".py") or "/" in module_part or os.sep in module_part:
        return Path(module_part).expanduser().resolve().parent
    return Path.cwd()


def _name_of(function: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in function).strip("-")
    return cleaned if NAME_PATTERN.fullmatch(cleaned) else "handler"
