"""A module the by-value test ships with cloudpickle.register_pickle_by_value."""

from __future__ import annotations


class ByValueError(Exception):
    pass


def fail(message: str) -> None:
    raise ByValueError(message)
