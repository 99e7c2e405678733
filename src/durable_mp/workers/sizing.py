"""How many CPUs the pool may use: affinity, cgroup quota and Lambda's memory setting.

``os.cpu_count()`` lies inside containers: it ignores CPU affinity and cgroup quotas. This
module reads both, for the group this process is really in (``/proc/self/cgroup``) and
its ancestors, cgroup v1 or v2. On Lambda the cgroup may still show more CPUs than the
function's memory setting pays for, so the count is also capped by the memory size.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

# Lambda allocates CPU in proportion to memory: one vCPU at 1,769 MB, at most six.
LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MAX_VCPUS = 6
_LAMBDA_MEMORY_ENV = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
CGROUP_ROOT = Path("/sys/fs/cgroup")
OWN_CGROUPS = Path("/proc/self/cgroup")


def lambda_vcpus(memory_mb: int) -> int:
    """The vCPUs a Lambda function with ``memory_mb`` of memory gets (1 to 6)."""
    return max(1, min(LAMBDA_MAX_VCPUS, math.ceil(memory_mb / LAMBDA_MB_PER_VCPU)))


def usable_cpu_count() -> int:
    """CPUs this process can really use: affinity, cgroup quota and Lambda memory aware."""
    count = max(1, host_cpu_count())
    memory = os.environ.get(_LAMBDA_MEMORY_ENV, "").strip()
    if memory:
        try:
            memory_mb = int(memory)
        except ValueError:
            return count
        if memory_mb > 0:
            count = min(count, lambda_vcpus(memory_mb))
    return count


def host_cpu_count() -> int:
    """CPUs in this process's affinity mask, capped by its cgroup's CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    return max(1, count if limit is None else min(count, limit))


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, own: Path = OWN_CGROUPS) -> int | None:
    """The tightest CPU quota, rounded up to whole CPUs, of this process's cgroup and its
    ancestors (None: no quota, or no cgroups to read)."""
    try:
        lines = own.read_text().splitlines()
    except OSError:
        return None
    limits: list[int] = []
    for line in lines:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        if controllers == "":
            unified = root / "unified"
            v2 = unified if (unified / "cgroup.controllers").exists() else root
            limits += _quotas(v2, path, _v2_quota)
        elif "cpu" in controllers.split(","):
            for name in (controllers, "cpu", "cpu,cpuacct"):
                if (root / name).is_dir():
                    limits += _quotas(root / name, path, _v1_quota)
                    break
    return min(limits, default=None)


def _quotas(mount: Path, path: str, read: Callable[[Path], int | None]) -> list[int]:
    """The quota of the group at ``path`` under ``mount`` and of each ancestor below it."""
    group = mount / path.strip("/")
    found = []
    for directory in (group, *group.parents):
        if not directory.is_relative_to(mount):
            break
        with contextlib.suppress(OSError, ValueError):
            quota = read(directory)
            if quota is not None:
                found.append(quota)
    return found


def _v2_quota(directory: Path) -> int | None:
    quota, _, period = (directory / "cpu.max").read_text().strip().partition(" ")
    if quota == "max" or not period:
        return None
    return _whole_cpus(int(quota), int(period))


def _v1_quota(directory: Path) -> int | None:
    quota = int((directory / "cpu.cfs_quota_us").read_text())
    period = int((directory / "cpu.cfs_period_us").read_text())
    return _whole_cpus(quota, period)


def _whole_cpus(quota: int, period: int) -> int | None:
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))
