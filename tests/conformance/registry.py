"""The handlers of every suite, found in ``handlers/*.py`` and built for one SDK.

Each module there exposes ``build(sdk) -> dict[str, Requirement]`` keyed by requirement
id. Modules are found by listing the folder, so a suite appears as soon as its module
does; a module that is missing, or fails to import or build, costs only its own
requirements (each reports why), never the others.
"""

from __future__ import annotations

import functools
import importlib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conformance.sdk import load_sdk

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conformance.sdk import Requirement

HANDLERS = Path(__file__).parent / "handlers"
SDKS = ("durable_mp", "official")


@dataclass
class Built:
    """The requirements one SDK has handlers for, and why the others have none."""

    requirements: dict[str, Requirement] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # suite -> error

    def find(self, requirement_id: str, suite: str) -> Requirement:
        """The handler of ``requirement_id``, or ``LookupError`` saying why there is none."""
        if requirement_id in self.requirements:
            return self.requirements[requirement_id]
        if suite in self.broken:
            raise LookupError(f"handlers/{suite}.py is broken: {self.broken[suite]}")
        if not (HANDLERS / f"{suite}.py").exists():
            raise LookupError(f"no handlers/{suite}.py yet")
        raise LookupError(f"handlers/{suite}.py has no handler for {requirement_id}")


def suites() -> list[str]:
    return sorted(path.stem for path in HANDLERS.glob("*.py") if not path.stem.startswith("_"))


@functools.cache
def built(sdk_name: str) -> Built:
    """Every suite's handlers for ``sdk_name`` (cached: build once per process)."""
    sdk = load_sdk(sdk_name)
    result = Built()
    for suite in suites():
        try:
            module = importlib.import_module(f"tests.conformance.handlers.{suite}")
            result.requirements.update(module.build(sdk))
        except Exception as error:
            last = traceback.extract_tb(error.__traceback__)[-1]
            result.broken[suite] = (
                f"{type(error).__name__}: {error} ({last.filename}:{last.lineno})"
            )
    return result


def is_durable(function: Callable[..., Any], sdk_name: str) -> bool:
    """Whether ``function`` was made durable by ``sdk_name``'s ``durable_execution``.

    Both decorators return a wrapper defined next to ``durable_execution`` itself, so
    the wrapper's code file tells a durable handler from a plain Lambda function.
    """
    code = getattr(function, "__code__", None)
    decorator = load_sdk(sdk_name).durable_execution
    return code is not None and code.co_filename == decorator.__code__.co_filename


def identity(function: Callable[..., Any]) -> str:
    """What a function *is*, across builds: the code of the user function under the wrapper."""
    inner = getattr(function, "__durable_handler__", None) or getattr(
        function, "__wrapped__", function
    )
    code = getattr(inner, "__code__", None)
    where = f"{code.co_filename}:{code.co_firstlineno}" if code else repr(inner)
    return f"{getattr(inner, '__qualname__', inner)} ({where})"


def lambda_handler(requirement: Requirement, sdk_name: str) -> Callable[..., Any]:
    """The requirement's handler as its target runs it.

    ``step_executor`` (durable-mp only) re-decorates the user function with that choice;
    the official SDK runs step bodies on the handler's own threads anyway.
    """
    handler = requirement.handler
    if sdk_name == "durable_mp" and requirement.step_executor:
        inner = handler.__durable_handler__  # type: ignore[attr-defined]
        return load_sdk("durable_mp").durable_execution(step_executor=requirement.step_executor)(
            inner
        )  # type: ignore[no-any-return]
    return handler


def split_functions(
    requirement: Requirement, sdk_name: str
) -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[..., Any]]]:
    """The chained-invoke targets: (durable ones, plain Lambda functions)."""
    durable = {n: f for n, f in requirement.functions.items() if is_durable(f, sdk_name)}
    plain = {n: f for n, f in requirement.functions.items() if n not in durable}
    return durable, plain
