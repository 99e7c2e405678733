"""What ``durable-mp serve`` loads for the dex targets: every handler, as an attribute.

A serve target ``tests.conformance.served:SDK__req__ID`` is requirement ID's handler built
with SDK; ``SDK__fn__NAME`` is the chained-invoke target NAME. Attributes are built on
first access (PEP 562), once per runtime process. Importing this module also makes the
runtime log execution records as JSON lines on its stderr, which serve shares with the
harness (see :mod:`tests.conformance.logs`).
"""

from __future__ import annotations

from typing import Any

from tests.conformance import registry
from tests.conformance.logs import install_json_lines

install_json_lines()


def attribute(sdk_name: str, kind: str, key: str) -> str:
    return f"{sdk_name}__{kind}__{key}"


def __getattr__(name: str) -> Any:
    try:
        sdk_name, kind, key = name.split("__", 2)
    except ValueError:
        raise AttributeError(name) from None
    if sdk_name not in registry.SDKS:
        raise AttributeError(name)
    built = registry.built(sdk_name)
    if kind == "req" and key in built.requirements:
        return registry.lambda_handler(built.requirements[key], sdk_name)
    if kind == "fn":
        for requirement in built.requirements.values():
            if key in requirement.functions:
                return requirement.functions[key]
    raise AttributeError(name)
