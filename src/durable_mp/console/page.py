"""The console page: one HTML document with its style and script inline.

The same document serves the live console (it then asks the server for data) and
``durable-mp report`` (the data is inside it, so the file opens anywhere, offline). The
assets ship in the wheel beside this module; nothing is fetched from anywhere else.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

_MARKERS = re.compile(r"/\*\{\{(CSS|JS)\}\}\*/|\{\{(TITLE|BOOT)\}\}")


@functools.cache
def _asset(name: str) -> str:
    return resources.files("durable_mp.console").joinpath("assets", name).read_text("utf-8")


def embed_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(boot: dict[str, Any], *, title: str = "durable-mp console") -> str:
    """The page, started with ``boot``: ``{"mode": "live"}`` or a report's data."""
    parts = {
        "TITLE": _escape(title),
        "CSS": _asset("console.css"),
        "BOOT": embed_json(boot),
        "JS": _asset("console.js"),
    }
    # One pass over the template: what is substituted is never scanned again.
    template = _asset("console.html")
    return _MARKERS.sub(lambda found: parts[found.group(1) or found.group(2)], template)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
