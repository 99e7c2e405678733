"""The conftest AWS's testing library needs for ``written_for_aws.py`` (it has no plugin).

Only used where the file runs on the official SDK; durable-mp's plugin replaces it.
"""

import pytest
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner


@pytest.fixture
def durable_runner(request):
    marker = request.node.get_closest_marker("durable_execution")
    runner = DurableFunctionTestRunner(
        handler=marker.kwargs["handler"], skip_time=marker.kwargs.get("skip_time", True)
    )
    with runner:
        yield runner
