"""The reasons ``conftest.NOT_RUN`` gives for leaving AWS example tests out still hold.

When one stops holding (plugins land, the OTel package is added), this fails, so the
example goes back into the run instead of staying listed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import NOT_RUN  # noqa: E402 (this folder's conftest, not a package)


def test_every_not_run_file_has_a_reason_of_a_known_kind():
    kinds = ("needs AWS", "waits for plugins", "needs a package")
    assert NOT_RUN
    for path, reason in NOT_RUN.items():
        assert path.startswith("test/") and path.endswith(".py")
        assert reason.startswith(kinds), (path, reason)


def test_the_otel_package_is_still_not_shipped():
    assert importlib.util.find_spec("aws_durable_execution_sdk_python_otel") is None


def test_durable_execution_still_has_no_plugins_argument():
    from durable_mp import durable_execution

    with pytest.raises(TypeError):
        durable_execution(plugins=[])  # type: ignore[call-overload]


def test_the_deployment_scripts_are_not_vendored():
    assert not (HERE / "scripts").exists()
