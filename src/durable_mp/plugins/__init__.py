"""The machinery behind :mod:`durable_mp.plugin`: discovery, dispatch, engine events.

The public types live in :mod:`durable_mp.plugin` (the official SDK's module name);
nothing here is needed to write a plugin.
"""
