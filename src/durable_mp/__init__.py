"""durable-mp: AWS Lambda durable functions whose step bodies run in worker processes."""

from durable_mp.__about__ import __version__

__all__ = ["__version__"]
