"""The factories to register: one plugin per invocation, in the view you choose.

Names and shape follow the official package (``InvocationOtelPluginFactory``,
``ExecutionOtelPluginFactory``, ``config``, ``exclusive_group``), so a handler migrates by
changing its import. The module-level instances are what the entry points
``durable-mp-otel-invocation`` and ``durable-mp-otel-execution`` name (for
``DURABLE_EXECUTION_PLUGINS``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from durable_mp.otel.execution_view import ExecutionOtelPlugin
from durable_mp.otel.invocation_view import InvocationOtelPlugin

if TYPE_CHECKING:
    from durable_mp.otel.config import OtelPluginConfig
    from durable_mp.plugin import InvocationStartInfo

# One view per handler: the discovery refuses two factories of the same group.
OTEL_VIEW_GROUP = "aws-durable-execution-otel-view"


class InvocationOtelPluginFactory:
    """Register with ``@durable_execution(plugins=[InvocationOtelPluginFactory()])``."""

    __durable_registration_api__: ClassVar[int] = 1
    exclusive_group: ClassVar[str | None] = OTEL_VIEW_GROUP

    def __init__(self, config: OtelPluginConfig | None = None) -> None:
        self.config = config

    def create_plugin(self, info: InvocationStartInfo) -> InvocationOtelPlugin:
        return InvocationOtelPlugin(self.config)


class ExecutionOtelPluginFactory:
    """Register with ``@durable_execution(plugins=[ExecutionOtelPluginFactory()])``."""

    __durable_registration_api__: ClassVar[int] = 1
    exclusive_group: ClassVar[str | None] = OTEL_VIEW_GROUP

    def __init__(self, config: OtelPluginConfig | None = None) -> None:
        self.config = config

    def create_plugin(self, info: InvocationStartInfo) -> ExecutionOtelPlugin:
        return ExecutionOtelPlugin(self.config)


INVOCATION_OTEL_PLUGIN_FACTORY = InvocationOtelPluginFactory()
EXECUTION_OTEL_PLUGIN_FACTORY = ExecutionOtelPluginFactory()
