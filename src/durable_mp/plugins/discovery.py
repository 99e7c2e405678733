"""Which plugin factories an execution uses: the decorator's, then those named in the environment.

``DURABLE_EXECUTION_PLUGINS=otel-invocation,my-plugin`` names factories registered in the
entry-point group ``aws_durable_execution.plugins`` (the official SDK's group, so a plugin
package written for it is found too). Everything is checked when the handler is
decorated, so a misconfiguration fails the deployment's first invocation with a
:class:`PluginLoadError` instead of silently losing telemetry.
"""

from __future__ import annotations

import inspect
import logging
import os
from importlib import metadata
from typing import TYPE_CHECKING, Any, cast

from durable_mp.exceptions import PluginLoadError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from durable_mp.plugin import DurableInstrumentationPluginFactory

logger = logging.getLogger(__name__)

PLUGIN_ENTRY_POINT_GROUP = "aws_durable_execution.plugins"
PLUGIN_ENVIRONMENT_VARIABLE = "DURABLE_EXECUTION_PLUGINS"


def load_configured_plugins(
    explicit_plugins: Sequence[DurableInstrumentationPluginFactory] | None,
    *,
    environment: Mapping[str, str] | None = None,
) -> list[DurableInstrumentationPluginFactory]:
    """The decorator's factories in order, then the environment's (each factory once)."""
    factories = list(explicit_plugins or [])
    candidates: list[object] = list(factories)
    try:
        for index, factory in enumerate(factories):
            if not is_plugin_factory(factory):
                raise PluginLoadError(
                    f"plugins[{index}] is {_describe(factory)}, not a plugin factory: pass an "
                    "object with a create_plugin(info) method that returns a "
                    "DurableInstrumentationPlugin, e.g. plugins=[MyPluginFactory()] (an "
                    "instance, not the class, and not a plugin)."
                )
        env = os.environ if environment is None else environment
        for name in configured_names(env):
            factory = _load_entry_point(name, candidates)
            if any(factory is known for known in factories):
                logger.warning(
                    "Plugin '%s' from %s is already registered; using it once",
                    name,
                    PLUGIN_ENVIRONMENT_VARIABLE,
                )
                continue
            factories.append(factory)
        _check_exclusive_groups(factories)
    except Exception:
        _notify_registration(candidates, registered=False)
        raise
    _notify_registration(factories, registered=True)
    return factories


def configured_names(environment: Mapping[str, str]) -> list[str]:
    raw = environment.get(PLUGIN_ENVIRONMENT_VARIABLE)
    if raw is None or not raw.strip():
        return []
    names = [name.strip() for name in raw.split(",")]
    if any(not name for name in names):
        raise PluginLoadError(
            f"{PLUGIN_ENVIRONMENT_VARIABLE}={raw!r} has an empty name; use comma-separated "
            "plugin names, e.g. 'otel-invocation,my-plugin'."
        )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise PluginLoadError(
            f"{PLUGIN_ENVIRONMENT_VARIABLE} names {', '.join(duplicates)} more than once; "
            "name each plugin once."
        )
    return names


def _load_entry_point(name: str, candidates: list[object]) -> DurableInstrumentationPluginFactory:
    try:
        found = list(metadata.entry_points(group=PLUGIN_ENTRY_POINT_GROUP))
    except Exception as error:
        raise PluginLoadError(
            f"Could not read the installed plugins (entry-point group "
            f"'{PLUGIN_ENTRY_POINT_GROUP}'): {error}"
        ) from error
    matching = [entry for entry in found if entry.name == name]
    if not matching:
        installed = ", ".join(sorted({entry.name for entry in found})) or "none"
        raise PluginLoadError(
            f"No plugin named '{name}' (from {PLUGIN_ENVIRONMENT_VARIABLE}) is installed in "
            f"entry-point group '{PLUGIN_ENTRY_POINT_GROUP}'; installed: {installed}. Install "
            "the package that provides it with the function (or in a layer), or fix the name."
        )
    if len(matching) > 1:
        owners = ", ".join(_distribution(entry) for entry in matching)
        raise PluginLoadError(
            f"Several installed packages provide a plugin named '{name}' ({owners}); "
            "uninstall all but one."
        )
    entry = matching[0]
    try:
        factory = entry.load()
    except Exception as error:
        raise PluginLoadError(
            f"Plugin '{name}' ({entry.value}, from {_distribution(entry)}) failed to import: "
            f"{type(error).__name__}: {error}"
        ) from error
    candidates.append(factory)
    if not is_plugin_factory(factory):
        raise PluginLoadError(
            f"Plugin '{name}' ({entry.value}) is {_describe(factory)}, not a plugin factory; "
            "the entry point must name a factory instance with create_plugin(info)."
        )
    return cast("DurableInstrumentationPluginFactory", factory)


def is_plugin_factory(value: object) -> bool:
    """Whether ``value.create_plugin(info)`` can be called with one positional argument.

    A factory *class* whose ``create_plugin`` is an ordinary method is refused: called
    on the class, the info would land in ``self``.
    """
    create = getattr(value, "create_plugin", None)
    if not callable(create):
        return False
    if isinstance(value, type) and inspect.isfunction(create):
        declared = inspect.getattr_static(value, "create_plugin", None)
        if not isinstance(declared, staticmethod):
            return False
    try:
        signature = inspect.signature(create)
    except (TypeError, ValueError):
        return True  # no signature to read (a C callable): trust the member
    try:
        signature.bind(object())
    except TypeError:
        return False
    return True


def _describe(value: object) -> str:
    if isinstance(value, type):
        return f"the class {value.__module__}.{value.__qualname__}"
    if inspect.isroutine(value):
        return f"the function {getattr(value, '__module__', '?')}.{value.__qualname__}"
    kind = type(value)
    return f"an instance of {kind.__module__}.{kind.__qualname__}"


def _distribution(entry: metadata.EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return str(dist.metadata.get("Name", "an unknown package")) if dist else "an unknown package"


# -- registration API 1: exclusive groups and registration results ----------------------


def _owner_type(factory: object) -> type[Any]:
    return factory if isinstance(factory, type) else type(factory)


def _opted_in(kind: type[Any]) -> list[type[Any]]:
    """The classes of ``kind``'s MRO that declare ``__durable_registration_api__ = 1``.

    The nearest declaration decides: a class declaring another version opts its own
    line out.
    """
    declaring = [klass for klass in kind.__mro__ if "__durable_registration_api__" in vars(klass)]
    if not declaring or vars(declaring[0])["__durable_registration_api__"] != 1:
        return []
    return [klass for klass in declaring if vars(klass)["__durable_registration_api__"] == 1]


def _groups(kind: type[Any]) -> list[str]:
    groups: list[str] = []
    for klass in _opted_in(kind):
        group = getattr(klass, "exclusive_group", None)
        if group is None:
            continue
        if not isinstance(group, str) or not group.strip():
            raise PluginLoadError(
                f"{kind.__module__}.{kind.__qualname__}.exclusive_group must be None or a "
                "non-empty string"
            )
        if group not in groups:
            groups.append(group)
    return groups


def _check_exclusive_groups(factories: Sequence[object]) -> None:
    owners: dict[str, type[Any]] = {}
    for factory in factories:
        kind = _owner_type(factory)
        for group in _groups(kind):
            previous = owners.get(group)
            if previous is None:
                owners[group] = kind
                continue
            first = f"{previous.__module__}.{previous.__qualname__}"
            second = f"{kind.__module__}.{kind.__qualname__}"
            if previous is kind:
                raise PluginLoadError(
                    f"{first} is registered twice (exclusive group '{group}'); register it "
                    "once, in plugins or in DURABLE_EXECUTION_PLUGINS."
                )
            raise PluginLoadError(
                f"{first} and {second} exclude each other (group '{group}'); keep one of "
                "them in plugins and DURABLE_EXECUTION_PLUGINS."
            )


def _notify_registration(factories: Sequence[object], *, registered: bool) -> None:
    seen: set[int] = set()
    for factory in factories:
        if id(factory) in seen:
            continue
        seen.add(id(factory))
        try:
            if not _opted_in(_owner_type(factory)):
                continue
            callback = getattr(factory, "on_registration_result", None)
            if callable(callback):
                callback(registered)
        except Exception:
            logger.exception("A plugin's on_registration_result callback raised; ignored")
