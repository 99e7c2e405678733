"""The pytest plugin, each case in a pytest of its own (the plugin loads from its entry point)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

HANDLER = textwrap.dedent(
    """
    import pytest
    from durable_mp import durable_execution
    from durable_mp.lambda_service import InvocationStatus


    @durable_execution
    def handler(event, ctx):
        return ctx.step(lambda _: event * 2, name="double")
    """
)


def pytest_in(folder, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300,
    )


def test_fixture_marker_and_runner_mode_need_no_conftest(tmp_path):
    (tmp_path / "test_it.py").write_text(HANDLER + textwrap.dedent(
        """

        @pytest.mark.durable_execution(handler=handler, lambda_function_name="double")
        def test_double(durable_runner, request):
            assert request.config.getoption("--runner-mode") == "local"
            assert durable_runner.mode == "local"
            with durable_runner:
                result = durable_runner.run(input="21", timeout=30)
            assert result.status is InvocationStatus.SUCCEEDED
            assert result.result == "42"
            assert result.get_step("double").result == "42"
        """
    ))
    done = pytest_in(tmp_path, "--strict-markers")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_a_conftest_that_declares_runner_mode_itself_keeps_working(tmp_path):
    # As AWS's example suite's conftest does: the same option, its own fixture.
    (tmp_path / "conftest.py").write_text(textwrap.dedent(
        """
        import pytest

        def pytest_addoption(parser):
            parser.addoption("--runner-mode", action="store", default="local",
                             choices=["local", "cloud"])

        @pytest.fixture
        def durable_runner(request):
            return "the conftest's own fixture"
        """
    ))
    (tmp_path / "test_it.py").write_text(textwrap.dedent(
        """
        def test_own_fixture(durable_runner, request):
            assert durable_runner == "the conftest's own fixture"
            assert request.config.getoption("--runner-mode") == "cloud"
        """
    ))
    done = pytest_in(tmp_path, "--runner-mode", "cloud")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_a_test_without_the_marker_is_told_what_is_missing(tmp_path):
    (tmp_path / "test_it.py").write_text("def test_unmarked(durable_runner):\n    pass\n")
    done = pytest_in(tmp_path)
    assert done.returncode == 1
    assert "needs the test marked @pytest.mark.durable_execution" in done.stdout
