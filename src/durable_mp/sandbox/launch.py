"""The command that starts a sandbox's runtime, and the environment Lambda gives it.

Three layers, each ``exec``-ing the next so the runtime keeps the first one's pid:

1. ``sh`` joins the sandbox's cgroups (before anything forks, so every descendant is in);
2. ``unshare --mount`` and a few mounts: ``/dev/shm`` read-only (``sem_open`` fails, as
   on Lambda), the code read-only, a fresh 512 MB ``/tmp`` with the directories the
   runtime needs from the old one bound read-only into it;
3. ``setpriv`` drops to Lambda's uid 993 and ``python -m awslambdaric HANDLER`` runs.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from durable_mp.sandbox.config import TMP_SIZE_MB
from durable_mp.sandbox.layer import layer_packages, layer_python
from durable_mp.sandbox.platform import LAMBDA_GID, LAMBDA_UID

if TYPE_CHECKING:
    from durable_mp.sandbox.config import FunctionConfig
    from durable_mp.sandbox.platform import Capabilities

JOIN_GROUPS = """\
for f in $_DMP_CGROUPS; do echo $$ > "$f" || exit 97; done
unset _DMP_CGROUPS
exec "$@"
"""

MOUNTS = f"""\
set -e
IFS='
'
for p in $_DMP_READ_ONLY; do mount --bind "$p" "$p"; mount -o remount,bind,ro "$p"; done
if [ -d /dev/shm ]; then mount -t tmpfs -o ro,size=4k,mode=1777 shm /dev/shm; fi
mount -t tmpfs -o size={TMP_SIZE_MB}m,mode=1777 tmp "$_DMP_STAGE"
n=0
for line in $_DMP_REVEAL; do
  n=$((n + 1)); mkdir -p "$_DMP_STAGE/.reveal/$n"
  mount --bind "${{line#*:}}" "$_DMP_STAGE/.reveal/$n"
  mount -o remount,bind,ro "$_DMP_STAGE/.reveal/$n"
done
hidden=
n=0
for line in $_DMP_REVEAL; do
  n=$((n + 1)); top="${{line%%:*}}"; path="${{line#*:}}"
  case " $hidden " in
    *" $top "*) ;;
    *) mount -t tmpfs -o mode=755,size=1m hide "$top"; hidden="$hidden $top";;
  esac
  mkdir -p "$path"
  mount --move "$_DMP_STAGE/.reveal/$n" "$path"
done
rm -rf "$_DMP_STAGE/.reveal"
for p in $_DMP_KEEP; do
  mkdir -p "$_DMP_STAGE/$p"
  mount --bind "/tmp/$p" "$_DMP_STAGE/$p"
  mount -o remount,bind,ro "$_DMP_STAGE/$p"
done
mount --move "$_DMP_STAGE" /tmp
unset _DMP_READ_ONLY _DMP_STAGE _DMP_KEEP _DMP_REVEAL IFS
exec "$@"
"""

# What Lambda sets that a handler may read; the rest of serve's environment passes through.
_DROPPED = ("PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH")


def runtime_command(config: FunctionConfig, layer: Path | None) -> list[str]:
    python = layer_python(layer) if layer is not None else config.python
    return [python, "-m", "awslambdaric", config.handler]


def command(
    config: FunctionConfig, capabilities: Capabilities, groups: list[str], stage: Path | None,
    layer: Path | None,
) -> tuple[list[str], dict[str, str]]:
    """The argv and the extra environment that start ``config``'s runtime."""
    argv = runtime_command(config, layer)
    extra: dict[str, str] = {}
    if capabilities.non_root:
        argv = ["setpriv", f"--reuid={LAMBDA_UID}", f"--regid={LAMBDA_GID}", "--clear-groups",
                "--no-new-privs", *argv]
    if capabilities.filesystem and stage is not None:
        visible = [str(config.task_root), *config.python_path, *_interpreter_paths()]
        if layer is not None:
            visible.append(str(layer))
        extra["_DMP_READ_ONLY"] = str(config.task_root)
        extra["_DMP_STAGE"] = str(stage)
        extra["_DMP_KEEP"] = "\n".join(sorted(set(_under_tmp(visible))))
        extra["_DMP_REVEAL"] = "\n".join(
            f"{top}:{path}" for top, path in _hidden_from_others(visible)
        ) if capabilities.non_root else ""
        argv = ["unshare", "--mount", "--propagation", "private", "--",
                "sh", "-c", MOUNTS, "durable-mp-sandbox", *argv]
    if groups:
        extra["_DMP_CGROUPS"] = " ".join(groups)
        argv = ["sh", "-c", JOIN_GROUPS, "durable-mp-sandbox", *argv]
    return argv, extra


def _interpreter_paths() -> list[str]:
    """Where this Python and its packages live: the runtime needs them after /tmp is new."""
    paths = {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)}
    paths.update(entry for entry in sys.path if entry and os.path.isdir(entry))
    return sorted(paths)


def _hidden_from_others(paths: list[str]) -> list[tuple[str, str]]:
    """(closed ancestor, path) for each of ``paths`` that another user cannot reach.

    The runtime runs as uid 993, but its Python may live in root's home (pyenv). Inside
    the sandbox's mount namespace such an ancestor (``/root``) is covered by an empty
    tmpfs into which only the needed directories are bound, read-only.
    """
    found: dict[str, str] = {}
    for path in paths:
        resolved = Path(path).resolve()
        if resolved.parts[:2] == ("/", "tmp") or not resolved.is_dir():
            continue
        for ancestor in list(reversed(resolved.parents))[1:]:
            try:
                closed = not ancestor.stat().st_mode & 0o001
            except OSError:
                break
            if closed:
                found.setdefault(str(resolved), str(ancestor))
                break
    pairs = sorted((top, path) for path, top in found.items())
    kept: list[tuple[str, str]] = []
    for top, path in pairs:
        if not any(Path(path).is_relative_to(other) for _, other in kept):
            kept.append((top, path))
    return kept


def _under_tmp(paths: list[str]) -> list[str]:
    """Those of ``paths`` inside /tmp, relative to it, none inside another."""
    inside = sorted({
        resolved.relative_to("/tmp")
        for resolved in (Path(path).resolve() for path in paths)
        if resolved.parts[:2] == ("/", "tmp") and len(resolved.parts) > 2
    })
    kept: list[Path] = []
    for path in inside:
        if not any(path.is_relative_to(parent) for parent in kept):
            kept.append(path)
    return [str(path) for path in kept]


def environment(
    config: FunctionConfig, api_address: str, capabilities: Capabilities, layer: Path | None,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """serve's environment, less what would leak another Python in, plus Lambda's variables."""
    env = dict(os.environ if base is None else base)
    for name in _DROPPED:
        env.pop(name, None)
    if capabilities.non_root:
        env.pop("HOME", None)  # uid 993 has no home, as on Lambda
    path = [str(config.task_root), *config.python_path]
    if layer is not None:
        path.append(str(layer_packages(layer)))
    elif not config.bare and env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    stream = f"{time.strftime('%Y/%m/%d')}/[{config.version}]{uuid.uuid4().hex}"
    env.update(config.environment)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": api_address,
        "AWS_LAMBDA_FUNCTION_NAME": config.name,
        "AWS_LAMBDA_FUNCTION_VERSION": config.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{version}",
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", config.region),
        "LAMBDA_TASK_ROOT": str(config.task_root),
        "LAMBDA_RUNTIME_DIR": str(layer) if layer is not None else str(Path(sys.prefix)),
        "_HANDLER": config.handler,
        "TZ": ":UTC",
        "PYTHONPATH": os.pathsep.join(path),
        "PYTHONUNBUFFERED": "1",
    })
    return env
