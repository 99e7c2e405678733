"""Loading handler targets for the CLI and ``serve``.

A target is ``path/to/file.py:function`` or ``package.module:function``.

A module loaded from a file path is registered with cloudpickle to be pickled *by value*:
worker processes cannot import that file by module name, so the functions and classes it
defines travel with each step instead.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_mp.init_workers import held_back

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from durable_mp.config import StepExecutorName


class TargetError(Exception):
    """The target cannot be loaded; the message says what to fix."""


@dataclass(frozen=True)
class Target:
    spec: str
    module: ModuleType
    attribute: str
    lambda_handler: Callable[[Any, Any], dict[str, Any]]

    @property
    def function_name(self) -> str:
        """A Lambda-style function name for the target (letters, digits, - and _)."""
        cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.attribute)
        return cleaned.strip("-") or "handler"


def load_target(
    spec: str,
    *,
    step_executor: StepExecutorName | None = None,
    workers: int | None = None,
    plain: bool = False,
) -> Target:
    """Import ``spec`` and return its durable Lambda handler.

    ``step_executor`` and ``workers`` override the handler's own ``@durable_execution``
    choices (a per-step ``StepConfig(executor=...)`` still wins). ``plain`` returns the
    function as it is, a Lambda ``handler(event, context)`` that is not made durable.
    """
    module_part, sep, attribute = spec.rpartition(":")
    if not sep or not module_part or not attribute:
        raise TargetError(
            f"'{spec}' is not a target; write path/to/file.py:function or package.module:function"
        )
    # A command line that overrides the handler's executor decides whether workers start.
    with held_back(step_executor not in (None, "process")):
        module = _load_module(module_part)
    if not hasattr(module, attribute):
        names = sorted(
            name
            for name, value in vars(module).items()
            if callable(value)
            and not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__
        )
        hint = f"; it defines: {', '.join(names)}" if names else ""
        raise TargetError(f"{module_part} has no attribute '{attribute}'{hint}")
    obj = getattr(module, attribute)
    if plain:
        if not callable(obj) or not _takes_two_arguments(obj):
            raise TargetError(
                f"{spec} is not a Lambda handler: expected a function (event, context)"
            )
        return Target(spec, module, attribute, obj)
    handler = _as_lambda_handler(obj, spec, step_executor, workers)
    return Target(spec, module, attribute, handler)


def _load_module(module_part: str) -> ModuleType:
    looks_like_path = module_part.endswith(".py") or "/" in module_part or os.sep in module_part
    if looks_like_path:
        return _load_file(Path(module_part))
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(module_part)
    except ModuleNotFoundError as error:
        raise TargetError(
            f"cannot import module '{module_part}' ({error}); check the name, or give a file "
            "path such as path/to/file.py:function"
        ) from None


def _load_file(path: Path) -> ModuleType:
    import cloudpickle

    path = path.expanduser().resolve()
    if not path.is_file():
        raise TargetError(f"{path}: no such file")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"durable_mp_target_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)  # as `python file.py` would, for sibling imports
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise TargetError(f"{path} failed to import: {type(error).__name__}: {error}") from error
    cloudpickle.register_pickle_by_value(module)
    return module


def _as_lambda_handler(
    obj: Any,
    spec: str,
    step_executor: StepExecutorName | None,
    workers: int | None,
) -> Callable[[Any, Any], dict[str, Any]]:
    from durable_mp.engine.scope import InvocationSettings
    from durable_mp.execution import _decorate

    user_function = getattr(obj, "__durable_handler__", None)
    settings: InvocationSettings = getattr(obj, "__durable_settings__", InvocationSettings())
    if user_function is None:
        if not callable(obj) or not _takes_two_arguments(obj):
            raise TargetError(
                f"{spec} is not a durable handler: expected a function decorated with "
                "@durable_execution, or a function (event, ctx)"
            )
        user_function = obj
    if step_executor is None and workers is None:
        if user_function is obj:
            return _decorate(user_function, settings=settings)
        return obj  # type: ignore[no-any-return]
    settings = replace(
        settings,
        step_executor=step_executor or settings.step_executor,
        workers=workers or settings.workers,
    )
    return _decorate(user_function, settings=settings)


def _takes_two_arguments(func: Callable[..., Any]) -> bool:
    try:
        inspect.signature(func).bind(None, None)
    except (TypeError, ValueError):
        return False
    return True
