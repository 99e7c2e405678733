"""The official SDK's ``lambda_service`` module: the API's wire models and its clients.

The models live in ``durable_mp._wire`` and the clients in ``durable_mp.service_client``;
this module puts them under the name the official SDK uses, so imports migrate.
"""

from __future__ import annotations

from durable_mp._wire import *  # noqa: F403 - the whole model, as the official module has it
from durable_mp._wire import __all__ as _wire_names
from durable_mp.service_client import DurableServiceClient as DurableServiceClient
from durable_mp.service_client import LambdaServiceClient as LambdaClient

__all__ = [*_wire_names, "DurableServiceClient", "LambdaClient"]  # noqa: PLE0604
