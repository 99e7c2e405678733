"""Acceptance: a test file written for AWS's testing library runs on durable-mp.

``written_for_aws.py`` uses callbacks (success, failure, heartbeat), chained invokes (a
plain and a durable target), step retries and waits of hours and days under
``skip_time``, a child context on its own, and the ``durable_runner`` fixture. It runs
in a pytest of its own twice: unchanged on AWS's SDK and testing library (with the
conftest that library needs), and with only its import prefixes swapped (by the vendoring
script's own function) on durable-mp, where the pytest plugin provides the fixture.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENDOR = HERE.parent / "aws_examples" / "vendor.py"


def swap_prefixes(text: str) -> str:
    spec = importlib.util.spec_from_file_location("aws_examples_vendor", VENDOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.swap_prefixes(text)


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore",
         "--timeout", "240", *args, str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=600,
    )


def test_file_runs_on_durable_mp_with_only_the_prefixes_swapped(tmp_path):
    source = (HERE / "written_for_aws.py").read_text()
    swapped = swap_prefixes(source)
    assert "aws_durable_execution_sdk_python" not in swapped
    assert "from durable_mp.testing.runner import" in swapped
    (tmp_path / "test_order.py").write_text(swapped)

    done = run_pytest(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout, done.stdout


def test_the_same_file_passes_on_the_official_sdk(tmp_path):
    (tmp_path / "test_order.py").write_text((HERE / "written_for_aws.py").read_text())
    (tmp_path / "conftest.py").write_text((HERE / "official_conftest.py").read_text())

    done = run_pytest(tmp_path, "-p", "no:durable_mp")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout, done.stdout
