"""The official SDK's ``plugin_discovery`` names; see :mod:`durable_mp.plugins.discovery`."""

from durable_mp.plugins.discovery import (
    PLUGIN_ENTRY_POINT_GROUP,
    PLUGIN_ENVIRONMENT_VARIABLE,
    load_configured_plugins,
)

__all__ = ["PLUGIN_ENTRY_POINT_GROUP", "PLUGIN_ENVIRONMENT_VARIABLE", "load_configured_plugins"]
