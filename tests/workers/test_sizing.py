from __future__ import annotations

import pytest

from durable_mp.workers import sizing
from durable_mp.workers.sizing import lambda_vcpus, usable_cpu_count

MEMORY = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"


@pytest.fixture
def cpus(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(sizing, "host_cpu_count", lambda: 8)
    monkeypatch.delenv(MEMORY, raising=False)
    return monkeypatch


def test_outside_lambda_uses_the_host_count(cpus: pytest.MonkeyPatch) -> None:
    assert usable_cpu_count() == 8


@pytest.mark.parametrize(
    ("memory", "expected"),
    [("128", 1), ("1769", 1), ("1770", 2), ("3008", 2), ("5307", 3), ("5308", 4), ("10240", 6)],
)
def test_lambda_memory_caps_the_count(cpus: pytest.MonkeyPatch, memory: str, expected: int) -> None:
    cpus.setenv(MEMORY, memory)
    assert usable_cpu_count() == expected


def test_cgroup_quota_below_lambda_share_wins(cpus: pytest.MonkeyPatch) -> None:
    cpus.setattr(sizing, "host_cpu_count", lambda: 2)
    cpus.setenv(MEMORY, "10240")
    assert usable_cpu_count() == 2


@pytest.mark.parametrize("memory", ["", "lots", "0", "-5"])
def test_unusable_memory_setting_is_ignored(cpus: pytest.MonkeyPatch, memory: str) -> None:
    cpus.setenv(MEMORY, memory)
    assert usable_cpu_count() == 8


def test_never_below_one(cpus: pytest.MonkeyPatch) -> None:
    cpus.setattr(sizing, "host_cpu_count", lambda: 0)
    assert usable_cpu_count() == 1
    assert lambda_vcpus(1) == 1
    assert lambda_vcpus(100_000) == 6


# -- cgroup CPU quotas, read for this process's own group and its ancestors ---------------


def fake_cgroups(tmp_path, own: str, files: dict[str, str]):
    root = tmp_path / "cgroup"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    proc = tmp_path / "self-cgroup"
    proc.write_text(own)
    return root, proc


def test_v2_quota_of_the_own_group_rounded_up(tmp_path) -> None:
    root, own = fake_cgroups(tmp_path, "0::/sandbox/fn\n", {
        "cpu.max": "max 100000\n",
        "sandbox/cpu.max": "max 100000\n",
        "sandbox/fn/cpu.max": "150000 100000\n",
    })
    assert sizing.cgroup_cpu_limit(root, own) == 2


def test_v1_the_tightest_ancestor_wins(tmp_path) -> None:
    root, own = fake_cgroups(tmp_path, "4:memory:/x\n2:cpu,cpuacct:/sandbox/fn\n", {
        "cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
        "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        "cpu,cpuacct/sandbox/cpu.cfs_quota_us": "100000\n",
        "cpu,cpuacct/sandbox/cpu.cfs_period_us": "100000\n",
        "cpu,cpuacct/sandbox/fn/cpu.cfs_quota_us": "-1\n",
        "cpu,cpuacct/sandbox/fn/cpu.cfs_period_us": "100000\n",
    })
    assert sizing.cgroup_cpu_limit(root, own) == 1


def test_no_quota_or_no_cgroups_means_no_limit(tmp_path) -> None:
    root, own = fake_cgroups(tmp_path, "0::/\n", {"cpu.max": "max 100000\n"})
    assert sizing.cgroup_cpu_limit(root, own) is None
    assert sizing.cgroup_cpu_limit(root, tmp_path / "missing") is None


def test_the_host_count_is_capped_by_the_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sizing.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(sizing, "cgroup_cpu_limit", lambda: 3)
    assert sizing.host_cpu_count() == 3
    monkeypatch.setattr(sizing, "cgroup_cpu_limit", lambda: None)
    assert sizing.host_cpu_count() == 4
