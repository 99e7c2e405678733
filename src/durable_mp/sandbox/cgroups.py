"""cgroup v1 groups for one sandbox: freezer, memory and cpu, created under our own groups.

Lambda runs a function's processes in one execution environment it can freeze, cap and
kill as a whole. A sandbox here gets a group in each of the three v1 controllers, below
the groups this process is in (``/proc/self/cgroup``), so it works inside a container or a
systemd slice as long as those groups are writable. :func:`probe` says which controllers
are usable; a missing one is a capability the sandbox goes without, with a notice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from durable_mp.sandbox.watchdog import ensure_watchdog, group_prefix

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("freezer", "memory", "cpu")
CPU_PERIOD_US = 100_000
SHARES_PER_VCPU = 43_690  # the most the kernel allows for 6 vCPUs: as if dedicated
MAX_SHARES = 262_144
_FREEZE_POLL = 0.002


class CgroupError(OSError):
    """A cgroup file could not be read or written."""


def own_group(controller: str) -> Path | None:
    """The directory of this process's group in ``controller``, if v1 mounts it."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            mount = ROOT / controller
            if not mount.is_dir():
                return None
            directory = mount / path.lstrip("/")
            return directory if directory.is_dir() else None
    return None


def _own_groups() -> list[Path]:
    return [group for group in map(own_group, CONTROLLERS) if group is not None]


def probe() -> dict[str, str | None]:
    """Each controller: None if a sandbox can use it, else why not (one short phrase)."""
    found: dict[str, str | None] = {}
    for controller in CONTROLLERS:
        group = own_group(controller)
        if group is None:
            found[controller] = f"no cgroup v1 {controller} controller"
        elif not os.access(group, os.W_OK):
            found[controller] = f"cgroup {controller} group {group} is not writable"
        else:
            found[controller] = None
    return found


@dataclass
class SandboxGroups:
    """One sandbox's groups (a controller absent from ``paths`` is not used)."""

    paths: dict[str, Path]

    @classmethod
    def create(cls, name: str, controllers: list[str]) -> SandboxGroups:
        paths: dict[str, Path] = {}
        try:
            for controller in controllers:
                parent = own_group(controller)
                if parent is None:
                    raise CgroupError(f"no {controller} group")
                (parent / "durable-mp").mkdir(exist_ok=True)
                ensure_watchdog([own / "durable-mp" for own in _own_groups()])
                path = parent / "durable-mp" / f"{group_prefix()}{name}"
                path.mkdir()
                paths[controller] = path
        except OSError:
            cls(paths).remove()
            raise
        return cls(paths)

    def procs_files(self) -> list[str]:
        """What a process writes its pid to in order to join every group."""
        return [str(path / "cgroup.procs") for path in self.paths.values()]

    def limit_memory(self, megabytes: int) -> None:
        """Cap memory; at the cap the kernel pauses the group instead of killing a process
        in it, so the sandbox can be killed whole (as Lambda does) and no step sees a
        neighbour die first."""
        group = self.paths["memory"]
        _write(group / "memory.limit_in_bytes", str(megabytes * 1024 * 1024))
        with contextlib.suppress(OSError):  # absent when swap accounting is off
            _write(group / "memory.memsw.limit_in_bytes", str(megabytes * 1024 * 1024))
        _write(group / "memory.oom_control", "1")

    def limit_cpu(self, vcpus: float) -> None:
        """At most ``vcpus`` CPUs (the CFS quota). The group's weight is raised too: by
        default a group weighs as much as one busy process of the host, so on a loaded
        host a sandbox would get a sliver of its quota; Lambda's vCPUs are its own."""
        group = self.paths["cpu"]
        _write(group / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        _write(group / "cpu.cfs_quota_us", str(max(1000, round(vcpus * CPU_PERIOD_US))))
        _write(group / "cpu.shares", str(min(MAX_SHARES, max(2, round(SHARES_PER_VCPU * vcpus)))))

    def cpu_quota(self) -> float | None:
        """The vCPUs the cpu group allows (None without a quota)."""
        group = self.paths.get("cpu")
        if group is None:
            return None
        quota = int(_read(group / "cpu.cfs_quota_us"))
        return None if quota < 0 else quota / int(_read(group / "cpu.cfs_period_us"))

    def out_of_memory(self) -> bool:
        group = self.paths.get("memory")
        if group is None:
            return False
        with contextlib.suppress(OSError):
            for line in _read(group / "memory.oom_control").splitlines():
                key, _, value = line.partition(" ")
                if key == "under_oom" and value.strip() != "0":
                    return True
        return False

    def max_memory_mb(self) -> int | None:
        group = self.paths.get("memory")
        if group is None:
            return None
        try:
            return int(_read(group / "memory.max_usage_in_bytes")) // (1024 * 1024)
        except (OSError, ValueError):
            return None

    def pids(self) -> list[int]:
        for path in self.paths.values():
            with contextlib.suppress(OSError):
                return [int(pid) for pid in _read(path / "cgroup.procs").split()]
        return []

    def freeze(self, timeout: float = 5.0) -> bool:
        """Freeze every process of the group; False if the kernel did not get there."""
        return self._set_freezer("FROZEN", timeout)

    def thaw(self, timeout: float = 5.0) -> bool:
        return self._set_freezer("THAWED", timeout)

    def _set_freezer(self, state: str, timeout: float) -> bool:
        group = self.paths.get("freezer")
        if group is None:
            return False
        _write(group / "freezer.state", state)
        deadline = time.monotonic() + timeout
        while _read(group / "freezer.state").strip() != state:
            if time.monotonic() > deadline:
                return False
            _write(group / "freezer.state", state)  # FREEZING retries stuck tasks
            time.sleep(_FREEZE_POLL)
        return True

    def let_the_killed_die(self, timeout: float = 0.5) -> None:
        """After a thaw: wait until processes SIGKILLed while frozen have died, so the
        runtime's next event never finds a worker that is dead but not yet gone."""
        deadline = time.monotonic() + timeout
        dying = [pid for pid in self.pids() if _kill_pending(pid)]
        while dying and time.monotonic() < deadline:
            time.sleep(0.001)
            dying = [pid for pid in dying if _running(pid)]

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the group, wherever it forked to or whatever session
        it moved to. Frozen first, so nothing forks between the listing and the kill
        (a task stuck at the memory limit may not freeze: it is killed all the same), and
        always thawed after, since a frozen task dies only once it runs again."""
        tried = "freezer" in self.paths
        if tried:
            with contextlib.suppress(OSError):
                self.freeze(min(timeout, 1.0))
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if tried:
                with contextlib.suppress(OSError):
                    self.thaw(timeout)
                tried = False
            if not pids or time.monotonic() > deadline:
                return
            time.sleep(0.01)

    def remove(self, timeout: float = 5.0) -> None:
        """Delete the groups (empty ones only; the kernel refuses others)."""
        deadline = time.monotonic() + timeout
        for path in self.paths.values():
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.01)


_SIGKILL_BIT = 1 << (signal.SIGKILL - 1)


def _kill_pending(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith(("SigPnd:", "ShdPnd:")) and int(line.split()[1], 16) & _SIGKILL_BIT:
            return True
    return False


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, value: str) -> None:
    try:
        with path.open("w") as handle:
            handle.write(value)
    except OSError as error:
        raise CgroupError(
            error.errno, f"cannot write {value!r} to {path}: {error.strerror}"
        ) from None
