"""Running one execution to its end on each SDK, in this process.

durable-mp runs on its in-memory embedded service (``LocalService()`` + ``LocalRunner``).
The official SDK runs the way its own tests run it: ``DurableFunctionTestRunner`` from
``aws_durable_execution_sdk_python_testing``, whose ``InMemoryServiceClient`` applies
checkpoints to an in-memory store in this process. Only ``run`` is timed, not building
or closing the service. ``latency`` adds that many seconds to every checkpoint call, on
either side, before the call is applied.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import os


def official_available() -> bool:
    try:
        import aws_durable_execution_sdk_python  # noqa: F401
        import aws_durable_execution_sdk_python_testing  # noqa: F401
    except ImportError:
        return False
    return True


def run_durable_mp(
    handler: Any, event: Any, *, latency: float = 0.0, store: str | os.PathLike[str] | None = None
) -> tuple[float, Any]:
    """(seconds, decoded result) of one execution on the embedded service: in memory, or
    on the SQLite ``store`` (``":memory:"`` or a file)."""
    from durable_mp.local import LocalRunner, LocalService

    service = _slow_local_service(latency) if latency else LocalService(store)
    try:
        runner = LocalRunner(service, {"bench": handler})
        started = time.perf_counter()
        record = runner.run("bench", event)
        elapsed = time.perf_counter() - started
    finally:
        service.close()
    if record.status != "SUCCEEDED":
        raise RuntimeError(f"durable-mp execution ended {record.status}: {record.error}")
    return elapsed, json.loads(record.result) if record.result else None


def run_official(handler: Any, event: Any, *, latency: float = 0.0) -> tuple[float, Any]:
    """(seconds, decoded result) of one execution on the official testing runner."""
    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

    with DurableFunctionTestRunner(handler=handler) as runner:
        if latency:
            _slow_official_client(runner, latency)
        started = time.perf_counter()
        result = runner.run(input=json.dumps(event), execution_timeout=600)
        elapsed = time.perf_counter() - started
    status = getattr(result.status, "value", result.status)
    if status != "SUCCEEDED":
        raise RuntimeError(f"official execution ended {status}: {result.error}")
    return elapsed, json.loads(result.result) if result.result else None


def _slow_local_service(latency: float) -> Any:
    from durable_mp.local import LocalService

    class SlowLocalService(LocalService):
        def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
            time.sleep(latency)
            return super().checkpoint(*args, **kwargs)

    return SlowLocalService()


def _slow_official_client(runner: Any, latency: float) -> None:
    """Give the runner's in-process invoker a client that sleeps before each checkpoint."""
    client = runner._invoker.service_client
    inner = client.checkpoint

    def checkpoint(*args: Any, **kwargs: Any) -> Any:
        time.sleep(latency)
        return inner(*args, **kwargs)

    client.checkpoint = checkpoint
