"""Plugins built on the official SDK's classes, run on durable-mp's hooks unchanged.

A package such as ``aws-durable-execution-sdk-python-otel`` subclasses the official
``DurableInstrumentationPlugin`` and compares enums by identity (``info.status is
OperationStatus.SUCCEEDED``), so it needs the official SDK's own info objects. When a
factory returns such a plugin (the official SDK is installed, since the plugin imports
it), it is wrapped in :class:`OfficialPluginAdapter`, which rebuilds every info as the
official class with the same field values. durable-mp's additions (``executor``,
``worker_pid``) have no official field and are dropped; ``provide_worker_context`` does
not exist there, so nothing of such a plugin runs in a worker process.
"""

from __future__ import annotations

import dataclasses
import sys
from enum import Enum
from typing import TYPE_CHECKING, Any

from durable_mp.lambda_service import ErrorObject
from durable_mp.plugin import (
    DurableInstrumentationPlugin,
    InvocationEndInfo,
    InvocationStartInfo,
    OperationChangeInfo,
    OperationEndInfo,
    OperationStartInfo,
    PropagationInput,
    PropagationMetadata,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)

if TYPE_CHECKING:
    from types import ModuleType

_OFFICIAL_PREFIX = "aws_durable_execution_sdk_python"


def _official_modules() -> tuple[ModuleType, ModuleType] | None:
    """The official ``plugin`` and ``lambda_service`` modules, if a plugin imported them."""
    plugin = sys.modules.get(f"{_OFFICIAL_PREFIX}.plugin")
    service = sys.modules.get(f"{_OFFICIAL_PREFIX}.lambda_service")
    if plugin is None or service is None:
        return None
    return plugin, service


def adapt_foreign_plugin(plugin: object) -> DurableInstrumentationPlugin | None:
    """An adapter when ``plugin`` is an official-SDK plugin, else None."""
    modules = _official_modules()
    if modules is None or not isinstance(plugin, modules[0].DurableInstrumentationPlugin):
        return None
    return OfficialPluginAdapter(plugin, _Converter(*modules))


def info_for_factory(factory: object, info: InvocationStartInfo) -> Any:
    """The start info a factory gets: the official class for an official package's factory."""
    owner = factory if isinstance(factory, type) else type(factory)
    if not owner.__module__.startswith(_OFFICIAL_PREFIX):
        return info
    modules = _official_modules()
    if modules is None:
        return info
    return _Converter(*modules).convert(info)


class _Converter:
    """Rebuilds durable-mp values as the official SDK's classes (same names, same fields)."""

    def __init__(self, plugin_module: ModuleType, service_module: ModuleType) -> None:
        self._plugin = plugin_module
        self._service = service_module

    def convert(self, value: Any) -> Any:
        if isinstance(value, Enum):
            owner = getattr(self._plugin, type(value).__name__, None)
            if owner is None:
                owner = getattr(self._service, type(value).__name__)
            return owner(value.value)
        if isinstance(value, ErrorObject):
            trace = list(value.stack_trace) if value.stack_trace is not None else None
            return self._service.ErrorObject(value.message, value.type, value.data, trace)
        if isinstance(value, dict):
            return {key: self.convert(item) for key, item in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            official = getattr(self._plugin, type(value).__name__)
            known = {field.name for field in dataclasses.fields(official)}
            return official(
                **{
                    field.name: self.convert(getattr(value, field.name))
                    for field in dataclasses.fields(value)
                    if field.name in known
                }
            )
        return value

    def metadata(self, value: Any) -> PropagationMetadata | None:
        if value is None:
            return None
        return PropagationMetadata(x_amzn_trace_id=getattr(value, "x_amzn_trace_id", None))


class OfficialPluginAdapter(DurableInstrumentationPlugin):
    """Feeds an official-SDK plugin the official info classes."""

    def __init__(self, plugin: Any, converter: _Converter) -> None:
        self.wrapped_plugin = plugin
        self._convert = converter

    def provide_propagation_metadata(self, info: PropagationInput) -> PropagationMetadata | None:
        offered = self.wrapped_plugin.provide_propagation_metadata(self._convert.convert(info))
        return self._convert.metadata(offered)

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        self.wrapped_plugin.on_invocation_start(self._convert.convert(info))

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self.wrapped_plugin.on_invocation_end(self._convert.convert(info))

    def on_operation_start(self, info: OperationStartInfo) -> None:
        self.wrapped_plugin.on_operation_start(self._convert.convert(info))

    def on_operation_end(self, info: OperationEndInfo) -> None:
        self.wrapped_plugin.on_operation_end(self._convert.convert(info))

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        self.wrapped_plugin.on_operation_change(self._convert.convert(info))

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        self.wrapped_plugin.on_user_function_start(self._convert.convert(info))

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        self.wrapped_plugin.on_user_function_end(self._convert.convert(info))
