"""How many CPU slots a pool should have.

``os.cpu_count()`` lies inside containers: it ignores CPU affinity and cgroup quotas.
loky's ``cpu_count`` honours both. On Lambda the cgroup may still show more CPUs than the
function's memory setting pays for, so the count is also capped by the memory size.
"""

from __future__ import annotations

import math
import os

import loky

# Lambda allocates CPU in proportion to memory: one vCPU at 1,769 MB, at most six.
LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MAX_VCPUS = 6
_LAMBDA_MEMORY_ENV = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"


def lambda_vcpus(memory_mb: int) -> int:
    """The vCPUs a Lambda function with ``memory_mb`` of memory gets (1 to 6)."""
    return max(1, min(LAMBDA_MAX_VCPUS, math.ceil(memory_mb / LAMBDA_MB_PER_VCPU)))


def usable_cpu_count() -> int:
    """CPUs this process can really use: affinity, cgroup quota and Lambda memory aware."""
    count = max(1, int(loky.cpu_count()))
    memory = os.environ.get(_LAMBDA_MEMORY_ENV, "").strip()
    if memory:
        try:
            memory_mb = int(memory)
        except ValueError:
            return count
        if memory_mb > 0:
            count = min(count, lambda_vcpus(memory_mb))
    return count
