"""The reasons ``conftest`` gives for leaving AWS example tests out still hold.

When one stops holding, this fails, so the example goes back into the run instead of
staying listed.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import DESELECTED, NOT_RUN  # noqa: E402 (this folder's conftest, not a package)


def test_every_left_out_test_needs_aws():
    assert NOT_RUN and DESELECTED
    for where, reason in [*NOT_RUN.items(), *DESELECTED.items()]:
        assert where.startswith("test/"), where
        assert reason.startswith("needs AWS"), (where, reason)


def test_the_deployment_scripts_are_not_vendored():
    assert not (HERE / "scripts").exists()


def test_the_x_ray_tests_need_the_cloud_runner():
    conftest = HERE / "test" / "conftest.py"
    if conftest.exists():  # vendored: the fixture they use skips outside cloud mode
        assert "X-Ray span validation only runs in cloud mode" in conftest.read_text()
