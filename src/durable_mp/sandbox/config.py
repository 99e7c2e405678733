"""What one function's sandboxes are made of: the handler, its code, its memory and time."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

LAMBDA_MB_PER_VCPU = 1769  # Lambda: one vCPU per 1,769 MB of memory
LAMBDA_MAX_VCPUS = 6
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10_240
DEFAULT_MEMORY_MB = 1769  # one vCPU; Lambda's own default of 128 MB buys 7% of one
DEFAULT_TIMEOUT = 900.0
INIT_TIMEOUT = 10.0  # Lambda's INIT limit for on-demand functions
TMP_SIZE_MB = 512  # Lambda's default ephemeral storage
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"


def vcpus_for(memory_mb: int) -> float:
    """The CPU share Lambda gives ``memory_mb``: memory / 1,769 MB vCPUs, at most six."""
    return min(float(LAMBDA_MAX_VCPUS), memory_mb / LAMBDA_MB_PER_VCPU)


@dataclass(frozen=True)
class FunctionConfig:
    """One function as Lambda would run it.

    ``handler`` is the runtime's handler string (``module.function``), imported from
    ``task_root`` (``LAMBDA_TASK_ROOT``: the working directory, read-only). With
    ``bare`` nothing else is on the path but ``python_path`` and the runtime interface
    client, as in Lambda; without it the interpreter's own site-packages are there too
    (``durable-mp serve`` of a project in its virtualenv).
    """

    name: str
    handler: str
    task_root: Path
    python_path: tuple[str, ...] = ()
    bare: bool = False
    memory_mb: int = DEFAULT_MEMORY_MB
    timeout: float = DEFAULT_TIMEOUT
    init_timeout: float = INIT_TIMEOUT
    freeze: bool = True
    environment: dict[str, str] = field(default_factory=dict)
    version: str = "$LATEST"
    region: str = field(
        default_factory=lambda: os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )
    account: str = DEFAULT_ACCOUNT
    python: str = sys.executable

    def __post_init__(self) -> None:
        if not MIN_MEMORY_MB <= self.memory_mb <= MAX_MEMORY_MB:
            raise ValueError(
                f"memory size {self.memory_mb} MB is outside Lambda's "
                f"{MIN_MEMORY_MB}-{MAX_MEMORY_MB} MB"
            )
        if not self.timeout > 0 or not self.init_timeout > 0:
            raise ValueError("timeouts must be positive")

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name}"

    @property
    def vcpus(self) -> float:
        return vcpus_for(self.memory_mb)

    @property
    def whole_vcpus(self) -> int:
        return max(1, math.ceil(self.vcpus))
