"""pytest plugin: the ``durable_runner`` fixture, ``durable_execution`` marker, ``--runner-mode``.

Installed with durable-mp (entry point ``pytest11``), so a test written the way AWS's
examples are runs without a conftest of its own::

    @pytest.mark.durable_execution(handler=my_module.handler, lambda_function_name="My Fn")
    def test_it(durable_runner):
        with durable_runner:
            result = durable_runner.run(input={"x": 1}, timeout=30)
        assert result.status is InvocationStatus.SUCCEEDED

``--runner-mode local`` (the default) runs the handler on the embedded service
(``skip_time=`` in the marker, default True); ``--runner-mode cloud`` runs the test
against the deployed function: its name is looked up in ``PYTEST_FUNCTION_NAME_MAP`` (a
JSON object of marker names to function names or ARNs, compared case-insensitively) or
taken as it is, in ``AWS_REGION`` (default us-west-2), at ``LAMBDA_ENDPOINT`` if set.

A conftest that declares ``--runner-mode`` itself (AWS's example suite has one) keeps
working: its declaration is the same option, and this plugin's stands.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from durable_mp.testing.cloud import DurableFunctionCloudTestRunner
    from durable_mp.testing.local import DurableFunctionTestRunner

logger = logging.getLogger(__name__)

RUNNER_MODE = "--runner-mode"
MODES = ("local", "cloud")
MARKER = (
    "durable_execution(handler=None, lambda_function_name=None, skip_time=True): the durable "
    "function the durable_runner fixture runs"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("durable-mp", "durable functions (durable-mp)")
    group.addoption(
        RUNNER_MODE,
        action="store",
        default="local",
        choices=MODES,
        help="durable_runner runs handlers locally on the embedded service (local) or "
        "against deployed functions (cloud). Default: local.",
    )
    _tolerate_redeclaration(parser, RUNNER_MODE)


def _tolerate_redeclaration(parser: pytest.Parser, option: str) -> None:
    """Let a conftest declare ``option`` again (as AWS's examples' conftest does)."""
    declare: Callable[..., None] = parser.addoption

    def addoption(*names: str, **attrs: Any) -> None:
        if option in names:
            logger.debug("%s is already declared by durable-mp's pytest plugin", option)
            return
        declare(*names, **attrs)

    parser.addoption = addoption  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


class DurableRunner:
    """The fixture's runner: the local or cloud runner, the same calls either way.

    ``run(input, timeout)`` and ``run_async(input, timeout)`` take the execution's
    deadline as ``timeout`` in both modes; ``mode`` says which one this is. Every
    other attribute is the underlying runner's.
    """

    def __init__(
        self, runner: DurableFunctionTestRunner | DurableFunctionCloudTestRunner, mode: str
    ) -> None:
        self.runner = runner
        self.mode = mode

    def run(self, input: Any = None, timeout: int = 60) -> Any:
        return self.runner.run(input=input, timeout=timeout)

    def run_async(self, input: Any = None, timeout: int = 60) -> str:
        return self.runner.run_async(input=input, timeout=timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runner, name)

    def __enter__(self) -> DurableRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        close = getattr(self.runner, "close", None)
        if close is not None:
            close()


@pytest.fixture
def durable_runner(request: pytest.FixtureRequest) -> Iterator[DurableRunner]:
    """A runner for the handler named by the test's ``durable_execution`` marker."""
    marker = request.node.get_closest_marker("durable_execution")
    if marker is None:
        pytest.fail("durable_runner needs the test marked @pytest.mark.durable_execution(...)")
    mode = str(request.config.getoption(RUNNER_MODE))
    runner: DurableFunctionTestRunner | DurableFunctionCloudTestRunner
    if mode == "cloud":
        from durable_mp.testing.cloud import DurableFunctionCloudTestRunner

        runner = DurableFunctionCloudTestRunner(
            function_name=_deployed_name(marker.kwargs.get("lambda_function_name")),
            region=os.environ.get("AWS_REGION", "us-west-2"),
            lambda_endpoint=os.environ.get("LAMBDA_ENDPOINT") or None,
        )
    else:
        from durable_mp.testing.local import DurableFunctionTestRunner

        handler = marker.kwargs.get("handler")
        if handler is None:
            pytest.fail("durable_execution(handler=...) is required in local mode")
        runner = DurableFunctionTestRunner(
            handler, execution_timeout=60, skip_time=marker.kwargs.get("skip_time", True)
        )
    adapter = DurableRunner(runner, mode)
    try:
        yield adapter
    finally:
        adapter.close()


def _deployed_name(name: str | None) -> str:
    if not name:
        pytest.fail("durable_execution(lambda_function_name=...) is required in cloud mode")
    mapping = os.environ.get("PYTEST_FUNCTION_NAME_MAP")
    if not mapping:
        return name
    try:
        names = json.loads(mapping)
    except ValueError as error:
        pytest.fail(f"PYTEST_FUNCTION_NAME_MAP is not JSON: {error}")
    for configured, deployed in names.items():
        if configured.lower() == name.lower():
            return str(deployed)
    return name
