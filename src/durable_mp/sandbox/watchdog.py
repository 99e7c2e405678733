"""Sandboxes do not outlive the process that started them, even when it is SIGKILLed.

A frozen sandbox cannot notice that its Runtime API is gone, so a small ``sh`` process
(outside every sandbox, in a session of its own) waits for EOF on a pipe only this
process holds; when this process dies, it kills and removes the cgroups of every
sandbox this process created (they are named ``p<pid>-...``).
"""

from __future__ import annotations

import os
import subprocess
import threading
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

SCRIPT = """\
while read -r _; do :; done
for parent in "$@"; do
  for g in "$parent"/"$PREFIX"*; do
    [ -d "$g" ] || continue
    [ -f "$g/freezer.state" ] && echo FROZEN > "$g/freezer.state" 2>/dev/null
    for p in $(cat "$g/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    [ -f "$g/freezer.state" ] && echo THAWED > "$g/freezer.state" 2>/dev/null
  done
done
for i in 1 2 3 4 5 6 7 8 9 10; do
  left=
  for parent in "$@"; do
    for g in "$parent"/"$PREFIX"*; do
      [ -d "$g" ] && { rmdir "$g" 2>/dev/null || left=1; }
    done
  done
  [ -z "$left" ] && exit 0
  sleep 0.2
done
"""

_lock = threading.Lock()
_pipe: IO[bytes] | None = None


def group_prefix() -> str:
    return f"p{os.getpid()}-"


def ensure_watchdog(parents: list[Path]) -> None:
    """Start the watchdog for this process once (it cleans ``parents``' groups)."""
    global _pipe  # noqa: PLW0603 - one watchdog per process
    with _lock:
        if _pipe is not None:
            return
        process = subprocess.Popen(
            ["sh", "-c", SCRIPT, "durable-mp-watchdog", *map(str, parents)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={"PREFIX": group_prefix(), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            start_new_session=True,
        )
        _pipe = process.stdin  # kept open (and unread) for the life of this process
