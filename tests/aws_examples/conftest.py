"""Runs AWS's example suite, vendored here by ``vendor.py``, on durable-mp.

The vendored files are AWS's, prefixes swapped; this conftest is ours. It leaves out what
cannot run here, each with its reason: whole files (``NOT_RUN``, never collected) and
single tests (``DESELECTED``, collected and deselected, so they are counted as such
rather than skipped). At the end of the run it says whether the suite was there at all.

When the suite has not been vendored yet but a checkout of AWS's repository is at hand
(``DURABLE_MP_AWS_EXAMPLES_CHECKOUT``, or ``shared/aws-durable-execution-sdk-python``
beside this repository, where CI finds the project's shared files), it is vendored from
there before the folder is collected.
"""

from __future__ import annotations

import os
import sys
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
}

# Single tests that are not run, and why.
DESELECTED: dict[str, str] = {
    "test/plugin/test_otel_plugin.py::test_plugin_spans_in_xray_across_invocations": (
        "needs AWS: reads the spans back from X-Ray (cloud mode only)"
    ),
    "test/otel/test_otel_logger_example.py::test_otel_logger_example_spans_in_xray": (
        "needs AWS: reads the spans back from X-Ray (cloud mode only)"
    ),
}

collect_ignore = list(NOT_RUN)


def vendored() -> bool:
    return (HERE / "test" / "conftest.py").exists() and (HERE / "src").is_dir()


def _checkout() -> Path | None:
    given = os.environ.get("DURABLE_MP_AWS_EXAMPLES_CHECKOUT")
    candidates = [Path(given)] if given else []
    candidates.append(HERE.parents[2] / "shared" / "aws-durable-execution-sdk-python")
    return next((path for path in candidates if path.is_dir()), None)


def _vendor_if_needed() -> None:
    checkout = _checkout()
    if vendored() or checkout is None:
        return
    sys.path.insert(0, str(HERE))
    try:
        import vendor
    finally:
        sys.path.remove(str(HERE))
    vendor.vendor(checkout, HERE)


_vendor_if_needed()  # before this folder's files are listed for collection


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runner-mode", "local") == "cloud":
        return
    left_out = [item for item in items if _relative_id(item) in DESELECTED]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


def _relative_id(item: pytest.Item) -> str:
    try:
        path = item.path.resolve().relative_to(HERE).as_posix()
    except ValueError:
        return ""
    return f"{path}::{item.name}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not vendored():
        terminalreporter.write_line(
            "AWS example suite: not vendored and no checkout found, none of its tests ran "
            "(python tests/aws_examples/vendor.py CHECKOUT; see tests/aws_examples/README.md)"
        )
