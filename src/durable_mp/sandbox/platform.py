"""What this machine lets a sandbox impose, probed once, and the notices for what it cannot.

Each of Lambda's constraints needs something of the host: freezing needs the cgroup v1
``freezer`` controller, the memory limit the ``memory`` controller, the vCPU quota the
``cpu`` controller; the filesystem (read-only ``/dev/shm`` and code, a private ``/tmp``) a
mount namespace (root and ``unshare``); the non-root user root and ``setpriv``. What is
missing is skipped with a one-line notice on stderr, once per process, never silently.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from dataclasses import dataclass, field
from functools import cache

from durable_mp.sandbox import cgroups

LAMBDA_UID = 993  # Lambda's sbx_user1051
LAMBDA_GID = 990
DISABLE_ENV = "DURABLE_MP_SANDBOX_DISABLE"  # e.g. "non_root,filesystem": go without those


@dataclass(frozen=True)
class Capabilities:
    """Which constraints can be applied here; ``missing`` says why the others cannot."""

    freezer: bool
    memory: bool
    cpu: bool
    filesystem: bool
    non_root: bool
    missing: dict[str, str] = field(default_factory=dict)

    def controllers(self) -> list[str]:
        return [name for name in cgroups.CONTROLLERS if getattr(self, name)]


@cache
def capabilities() -> Capabilities:
    if not sys.platform.startswith("linux"):
        reason = f"{sys.platform} has no cgroups or mount namespaces"
        return Capabilities(False, False, False, False, False, dict.fromkeys(
            ("freezer", "memory", "cpu", "filesystem", "non_root"), reason))
    missing: dict[str, str] = {}
    for controller, problem in cgroups.probe().items():
        if problem is not None:
            missing[controller] = problem
    root = os.geteuid() == 0
    if not root:
        missing["filesystem"] = "mount namespaces need root"
        missing["non_root"] = "already not root (the sandbox runs as this user)"
    else:
        if shutil.which("unshare") is None or shutil.which("mount") is None:
            missing["filesystem"] = "unshare or mount (util-linux) is not installed"
        if shutil.which("setpriv") is None:
            missing["non_root"] = "setpriv (util-linux) is not installed"
    for key in os.environ.get(DISABLE_ENV, "").replace(",", " ").split():
        if key in WHAT_IS_LOST:
            missing.setdefault(key, f"{DISABLE_ENV} lists it")
    return Capabilities(
        freezer="freezer" not in missing,
        memory="memory" not in missing,
        cpu="cpu" not in missing,
        filesystem="filesystem" not in missing,
        non_root="non_root" not in missing,
        missing=missing,
    )


WHAT_IS_LOST = {
    "freezer": "sandboxes are not frozen between invocations",
    "memory": "no memory limit (no Runtime.OutOfMemory)",
    "cpu": "no vCPU quota from the memory size",
    "filesystem": "/dev/shm, the code directory and /tmp are the host's",
    "non_root": "the handler runs as root",
}
_told: set[str] = set()
_told_lock = threading.Lock()


def notice(key: str, reason: str) -> None:
    """One line on stderr, the first time ``key`` is missing in this process."""
    with _told_lock:
        if key in _told:
            return
        _told.add(key)
    print(f"durable-mp sandbox: {WHAT_IS_LOST.get(key, key)} ({reason})", file=sys.stderr,
          flush=True)
