"""A Lambda-faithful execution environment for running a handler locally.

The handler runs under AWS's own runtime interface client (``awslambdaric``), which talks
to a Lambda Runtime API served here on 127.0.0.1 (:mod:`.runtime_api`). Where the machine
allows (Linux, root, cgroup v1; see :mod:`.platform`), the environment is frozen between
invocations, gets the CPU share and the memory limit of its memory size, is killed whole
on timeout or out-of-memory, sees a read-only ``/dev/shm`` and code directory and a private
``/tmp``, and runs as a non-root user. ``durable-mp serve`` runs every function this way.

Modules: ``config`` (a function's settings), ``sandbox`` (one environment), ``launch``
(its command line and environment variables), ``cgroups``, ``platform`` (what the host
supports), ``runtime_api``, ``telemetry`` (the runtime's log frames), ``layer``
(awslambdaric for bare bundles), ``watchdog`` (no sandbox outlives its owner),
``lambda_errors``.
"""

from durable_mp.sandbox.config import FunctionConfig, vcpus_for
from durable_mp.sandbox.sandbox import InitFailed, InvokeResult, Sandbox

__all__ = ["FunctionConfig", "InitFailed", "InvokeResult", "Sandbox", "vcpus_for"]
