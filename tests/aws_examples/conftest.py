"""Runs AWS's example suite, vendored here by ``vendor.py``, on durable-mp.

The vendored files are AWS's, prefixes swapped; this conftest is ours. It leaves out the
test files that cannot run here, each with its reason (``NOT_RUN``), and states at the
end of the run whether the suite was there at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

HERE = Path(__file__).resolve().parent

# Test files of the suite that are not run, and why. They do not count as passing.
NOT_RUN: dict[str, str] = {
    "test/test_generate_sam_template.py": "needs AWS: tests the SAM deployment template "
    "generator (scripts/, not vendored)",
    "test/test_log_group_deployment.py": "needs AWS: tests CloudWatch log-group deployment "
    "(scripts/, not vendored)",
    "test/otel/test_otel_logger_example.py": "waits for plugins (issue 12) and needs "
    "aws-durable-execution-sdk-python-otel, a package durable-mp does not ship",
    "test/plugin/test_otel_plugin.py": "waits for plugins (issue 12) and needs "
    "aws-durable-execution-sdk-python-otel, a package durable-mp does not ship",
    "test/plugin/test_plugin.py": "waits for plugins (issue 12): "
    "@durable_execution(plugins=[...]) does not exist yet",
}

collect_ignore = list(NOT_RUN)


def vendored() -> bool:
    return (HERE / "test" / "conftest.py").exists() and (HERE / "src").is_dir()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not vendored():
        terminalreporter.write_line(
            "AWS example suite: not vendored, none of its tests ran "
            "(python tests/aws_examples/vendor.py CHECKOUT; see tests/aws_examples/README.md)"
        )
