"""Everything the console serves ships in the wheel, and the page fetches nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from durable_mp.console.page import render_page

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ("console.html", "console.css", "console.js")


def test_the_wheel_carries_every_asset(tmp_path):
    """Read off the installed wheel's file list (CI installs one); an editable install
    has none, so a wheel is built then (some seconds)."""
    distribution = metadata.distribution("durable-mp")
    origin = json.loads(distribution.read_text("direct_url.json") or "{}")
    if not origin.get("dir_info", {}).get("editable"):
        installed = {str(path) for path in distribution.files or ()}
        for asset in ASSETS:
            assert f"durable_mp/console/assets/{asset}" in installed
        return
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = tmp_path.glob("durable_mp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in ASSETS:
        assert f"durable_mp/console/assets/{asset}" in names


def test_the_page_is_whole_and_refers_to_nothing_outside_itself():
    page = render_page({"mode": "live", "readOnly": False})
    assert "{{" not in page and "/*{{" not in page
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert "fetch('http" not in page and 'fetch("http' not in page
