"""Pickling for the worker sockets: cloudpickle's result, at the standard pickler's speed
when nothing has to travel by value.

cloudpickle pickles a function or class by value when a worker could not import it by
name -- it lives in ``__main__``, in a module that is not imported, in a module registered
with ``cloudpickle.register_pickle_by_value``, or it is a lambda or a local function --
and by reference otherwise, exactly as the standard pickler does. Deciding that in Python
for every object makes cloudpickle several times slower than the C pickler, which is most
of the cost of sending a step. :func:`dumps` first pickles with the C pickler, stopping at
the first function or class that cloudpickle would send by value (and at anything the
standard pickler cannot pickle); only then does cloudpickle do the whole object. Either
way ``cloudpickle.loads`` (the standard unpickler) reads the bytes.
"""

from __future__ import annotations

import io
import pickle
import sys
import types
from typing import Any

import cloudpickle

PROTOCOL = pickle.HIGHEST_PROTOCOL
_PLAIN = frozenset({str, bytes, int, float, bool, type(None)})  # no reducer to ask


class _ByValue(Exception):
    """An object that cloudpickle sends by value: the fast path gives up."""


class _ReferencePickler(pickle.Pickler):
    """The C pickler, refusing what only cloudpickle can send (by value)."""

    def __init__(self, file: io.BytesIO, by_value: set[str]) -> None:
        super().__init__(file, PROTOCOL)
        self._by_value = by_value

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is types.FunctionType or isinstance(obj, type):
            module = getattr(obj, "__module__", None)
            if module is None or module == "__main__" or module not in sys.modules:
                raise _ByValue
            if self._by_value and _registered(module, self._by_value):
                raise _ByValue
        return NotImplemented


def _registered(module: str, by_value: set[str]) -> bool:
    while True:
        if module in by_value:
            return True
        parent, dot, _ = module.rpartition(".")
        if not dot:
            return False
        module = parent


def dumps(obj: Any) -> bytes:
    """``cloudpickle.dumps(obj)``, as bytes the standard unpickler reads either way."""
    if type(obj) in _PLAIN:
        return pickle.dumps(obj, PROTOCOL)
    buffer = io.BytesIO()
    try:
        _ReferencePickler(buffer, cloudpickle.list_registry_pickle_by_value()).dump(obj)
    except (_ByValue, pickle.PicklingError, TypeError, AttributeError):
        by_value: bytes = cloudpickle.dumps(obj, PROTOCOL)
        return by_value
    return buffer.getvalue()
