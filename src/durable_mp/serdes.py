"""Serialization of checkpointed values.

Everything durable goes through a ``SerDes`` to a JSON string; nothing pickled is ever
checkpointed. The default, :class:`ExtendedTypeSerDes`, writes the official SDK's
extended-types envelope so checkpoints written by either SDK replay in the other:

* ``None``, ``str``, ``int``, ``float``, ``bool`` and lists of only those: plain JSON;
* anything else: ``{"t": <tag>, "v": <value>}``, recursively, with the tags
  ``n s i f b`` (primitives), ``B`` bytes (base64), ``u`` UUID, ``d`` Decimal,
  ``dt`` datetime and ``D`` date (ISO 8601), ``t`` tuple, ``l`` list, ``m`` dict,
  ``br`` BatchResult.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from durable_mp.concurrency.models import BatchResult
from durable_mp.exceptions import RetryableSerDesError, SerDesError

logger = logging.getLogger(__name__)

T = TypeVar("T")

TYPE_TOKEN = "t"
VALUE_TOKEN = "v"
_COMPACT = (",", ":")


@dataclass(frozen=True)
class SerDesContext:
    """Where a value is being (de)serialized, for serdes that store data elsewhere."""

    operation_id: str = ""
    durable_execution_arn: str = ""


class SerDes(ABC, Generic[T]):
    """Turns values into checkpoint payloads (strings) and back."""

    @abstractmethod
    def serialize(self, value: T, serdes_context: SerDesContext) -> str: ...

    @abstractmethod
    def deserialize(self, data: str, serdes_context: SerDesContext) -> T: ...

    @staticmethod
    def is_primitive(obj: Any) -> bool:
        """True for JSON scalars and (nested) lists of them: these need no envelope."""
        if obj is None or isinstance(obj, str | int | float | bool):
            return True
        if isinstance(obj, list):
            return all(SerDes.is_primitive(item) for item in obj)
        return False


class PassThroughSerDes(SerDes[T]):
    """Stores the value as it is; the value must already be a string."""

    def serialize(self, value: T, serdes_context: SerDesContext) -> str:
        return value  # type: ignore[return-value]

    def deserialize(self, data: str, serdes_context: SerDesContext) -> T:
        return data  # type: ignore[return-value]


class JsonSerDes(SerDes[T]):
    """Plain ``json.dumps``/``json.loads``."""

    def serialize(self, value: T, serdes_context: SerDesContext) -> str:
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> T:
        return json.loads(data)  # type: ignore[no-any-return]


# -- the extended-types codec -----------------------------------------------------------

Encoder = Callable[[Any, Callable[[Any], Any]], Any]
Decoder = Callable[[Any, Callable[[Any], Any]], Any]

_ENCODERS: list[tuple[type | tuple[type, ...], str, Encoder]] = []
_DECODERS: dict[str, Decoder] = {}
_EXACT: dict[type, tuple[str, Encoder]] = {}
_PRIMITIVE_TAGS: dict[type, str] = {type(None): "n", bool: "b", str: "s", int: "i", float: "f"}


def register_envelope_type(
    py_type: type | tuple[type, ...], tag: str, encode: Encoder, decode: Decoder
) -> None:
    """Teach the default serdes a new type.

    ``encode(value, encode_child)`` returns the JSON-ready ``v``; ``decode(v,
    decode_child)`` rebuilds the value. Later registrations take precedence over earlier
    ones for the same Python type, so subclasses can be registered after their bases.
    """
    _ENCODERS.insert(0, (py_type, tag, encode))
    _DECODERS[tag] = decode
    for exact in py_type if isinstance(py_type, tuple) else (py_type,):
        _EXACT[exact] = (tag, encode)


def _encode(value: Any) -> dict[str, Any]:
    # Exact types first, by one dict lookup each (most values); then, for subclasses,
    # the ordered checks (bool is an int subclass and datetime a date subclass).
    kind = type(value)
    primitive = _PRIMITIVE_TAGS.get(kind)
    if primitive is not None:
        return {TYPE_TOKEN: primitive, VALUE_TOKEN: value}
    exact = _EXACT.get(kind)
    if exact is not None:
        return {TYPE_TOKEN: exact[0], VALUE_TOKEN: exact[1](value, _encode)}
    match value:
        case None:
            return {TYPE_TOKEN: "n", VALUE_TOKEN: None}
        case bool():
            return {TYPE_TOKEN: "b", VALUE_TOKEN: value}
        case str():
            return {TYPE_TOKEN: "s", VALUE_TOKEN: value}
        case int():
            return {TYPE_TOKEN: "i", VALUE_TOKEN: value}
        case float():
            return {TYPE_TOKEN: "f", VALUE_TOKEN: value}
    for py_type, tag, encode in _ENCODERS:
        if isinstance(value, py_type):
            return {TYPE_TOKEN: tag, VALUE_TOKEN: encode(value, _encode)}
    raise SerDesError(
        f"Unsupported type: {type(value)!r}. The default serdes handles JSON types, bytes, "
        "UUID, Decimal, datetime, date, tuple, list and dict (with str keys); give the "
        "operation a custom serdes for other types."
    )


def _decode(envelope: Any) -> Any:
    if not (isinstance(envelope, dict) and TYPE_TOKEN in envelope and VALUE_TOKEN in envelope):
        return envelope
    tag, value = envelope[TYPE_TOKEN], envelope[VALUE_TOKEN]
    match tag:
        case "n":
            return None
        case "s":
            return str(value)
        case "i":
            return int(value)
        case "f":
            return float(value)
        case "b":
            return bool(value)
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise SerDesError(f'Unknown type tag: "{tag}"')
    return decoder(value, _decode)


def _encode_dict(value: dict[Any, Any], child: Callable[[Any], Any]) -> dict[str, Any]:
    for key in value:
        if not isinstance(key, str):
            raise SerDesError(f"Dict keys must be strings, got {type(key).__name__} key {key!r}")
    return {key: child(item) for key, item in value.items()}


def _expect(kind: type, value: Any) -> Any:
    if not isinstance(value, kind):
        raise SerDesError(f"Expected {kind.__name__} in envelope, got {type(value).__name__}")
    return value


register_envelope_type(
    (bytes, bytearray, memoryview),
    "B",
    lambda v, _: base64.b64encode(bytes(v)).decode("ascii"),
    lambda v, _: base64.b64decode(v),
)
register_envelope_type(uuid.UUID, "u", lambda v, _: str(v), lambda v, _: uuid.UUID(v))
register_envelope_type(Decimal, "d", lambda v, _: str(v), lambda v, _: Decimal(v))
register_envelope_type(date, "D", lambda v, _: v.isoformat(), lambda v, _: date.fromisoformat(v))
register_envelope_type(
    datetime,
    "dt",
    lambda v, _: v.isoformat(),
    lambda v, _: datetime.fromisoformat(v[:-1] + "+00:00" if v.endswith("Z") else v),
)
register_envelope_type(
    tuple,
    "t",
    lambda v, child: [child(item) for item in v],
    lambda v, child: tuple(child(item) for item in _expect(list, v)),
)
register_envelope_type(
    list,
    "l",
    lambda v, child: [child(item) for item in v],
    lambda v, child: [child(item) for item in _expect(list, v)],
)
register_envelope_type(
    dict,
    "m",
    _encode_dict,
    lambda v, child: {key: child(item) for key, item in _expect(dict, v).items()},
)
register_envelope_type(
    BatchResult,
    "br",
    lambda result, child: child(result.to_dict())["v"],
    lambda value, child: BatchResult.from_dict(child({"t": "m", "v": value})),
)


class ExtendedTypeSerDes(SerDes[Any]):
    """The default serdes: plain JSON when it can, the typed envelope otherwise."""

    def serialize(self, value: Any, serdes_context: SerDesContext | None = None) -> str:
        if SerDes.is_primitive(value):
            return json.dumps(value, separators=_COMPACT)
        return json.dumps(_encode(value), separators=_COMPACT)

    def deserialize(self, data: str, serdes_context: SerDesContext | None = None) -> Any:
        obj = json.loads(data)
        if SerDes.is_primitive(obj):
            return obj
        if not (isinstance(obj, dict) and TYPE_TOKEN in obj and VALUE_TOKEN in obj):
            raise SerDesError('Malformed envelope: missing "t" or "v" at root.')
        return _decode(obj)


DEFAULT_JSON_SERDES: SerDes[Any] = JsonSerDes()
EXTENDED_TYPES_SERDES: SerDes[Any] = ExtendedTypeSerDes()


def serialize(
    serdes: SerDes[T] | None, value: T, operation_id: str, durable_execution_arn: str
) -> str:
    """Serialize with ``serdes`` (default: extended types); failures become SerDesError."""
    active: SerDes[Any] = serdes or EXTENDED_TYPES_SERDES
    try:
        return active.serialize(value, SerDesContext(operation_id, durable_execution_arn))
    except (RetryableSerDesError, SerDesError):
        raise
    except Exception as error:
        raise SerDesError(
            f"Serialization failed for id: {operation_id}, error: {error}."
        ) from error


def deserialize(
    serdes: SerDes[T] | None, data: str, operation_id: str, durable_execution_arn: str
) -> T:
    """Deserialize with ``serdes`` (default: extended types); failures become SerDesError."""
    active: SerDes[Any] = serdes or EXTENDED_TYPES_SERDES
    try:
        return active.deserialize(data, SerDesContext(operation_id, durable_execution_arn))  # type: ignore[no-any-return]
    except (RetryableSerDesError, SerDesError):
        raise
    except Exception as error:
        raise SerDesError(
            f"Deserialization failed for id: {operation_id}, error: {error}."
        ) from error
