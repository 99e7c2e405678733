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
