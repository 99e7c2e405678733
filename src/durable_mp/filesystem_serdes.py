"""A serdes that keeps values in files and checkpoints only a pointer to them.

The durable execution service accepts at most 6 MB per operation payload
(:class:`~durable_mp.PayloadTooLargeError` above that). A step whose result is larger --
or an execution that should keep its checkpoints small -- can give the step
``StepConfig(serdes=FileSystemSerDes("/mnt/data"))``: the value is written to a file
under that directory and the checkpoint holds ``{"file": "<path>"}`` (plus an optional
inline ``"preview"``). In ``OVERFLOW`` mode small values stay inline as
``{"data": "<serialized value>"}`` and only values above the checkpoint size limit go to
a file. The envelope is the official SDK's (``aws_durable_execution_sdk_python.
filesystem_serdes``), so either SDK reads what the other wrote.

The directory must outlive the execution and be reachable from every invocation: a
durable, shared file system on Lambda (Amazon EFS, Amazon S3 Files), never Lambda's
``/tmp``, which belongs to one sandbox. Locally any directory works. In process mode the
worker writes the file, so only the pointer crosses the pipe.

Files are written to a temporary name, flushed to disk (``fsync``) and renamed into
place before the pointer is returned, so a checkpoint never points at a partial file.
Nothing deletes them: remove an execution's directory once it is no longer replayed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import quote

from durable_mp.lambda_service import CHECKPOINT_SIZE_LIMIT_BYTES
from durable_mp.serdes import EXTENDED_TYPES_SERDES, SerDes, SerDesContext

__all__ = [
    "FileSystemPathEncoding",
    "FileSystemSerDes",
    "FileSystemSerDesConfig",
    "FileSystemSerDesMode",
    "GeneratePreview",
]

# Room for the envelope and the rest of the checkpoint.
_OVERFLOW_THRESHOLD_BYTES = CHECKPOINT_SIZE_LIMIT_BYTES - 1024
_EXECUTION_ARN = re.compile(
    r"^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:/]+)(?::[^/]*)?"
    r"/durable-execution/([^/]+)/([^/]+)$"
)


class FileSystemSerDesMode(StrEnum):
    """When a value goes to a file.

    ``ALWAYS``: every value; the checkpoint holds only the pointer.
    ``OVERFLOW``: only values whose inline envelope would exceed the checkpoint size
    limit (~256 KB); smaller ones are checkpointed inline.
    """

    ALWAYS = "ALWAYS"
    OVERFLOW = "OVERFLOW"


class FileSystemPathEncoding(StrEnum):
    """How the execution ARN and the operation id become directory and file names.

    ``URI``: ``<function>/<execution name>/<execution id>/<operation id>.json``,
    percent-encoded (the whole ARN as one directory if it has another shape).
    ``HASH``: the SHA-256 hex digest of the ARN and of the operation id: fixed-length
    names, safe on any file system, not readable.
    """

    URI = "URI"
    HASH = "HASH"


class GeneratePreview(Protocol):
    """Makes a small JSON object kept inline next to the pointer (None: no preview)."""

    def __call__(self, value: Any) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class FileSystemSerDesConfig:
    """Options of :class:`FileSystemSerDes`.

    ``serdes`` turns the value into the text written to the file (default: the
    extended-types serdes every operation uses).
    """

    storage_mode: FileSystemSerDesMode = FileSystemSerDesMode.ALWAYS
    path_encoding: FileSystemPathEncoding = FileSystemPathEncoding.URI
    generate_preview: GeneratePreview | None = None
    serdes: SerDes[Any] = EXTENDED_TYPES_SERDES


class FileSystemSerDes(SerDes[Any]):
    """Stores values in files under ``base_path``; see the module docstring."""

    def __init__(
        self, base_path: str | os.PathLike[str], config: FileSystemSerDesConfig | None = None
    ) -> None:
        self._base_path = os.fspath(base_path)
        self._config = config or FileSystemSerDesConfig()

    @property
    def base_path(self) -> str:
        return self._base_path

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        config = self._config
        if config.storage_mode is FileSystemSerDesMode.OVERFLOW:
            inline = json.dumps({"data": config.serdes.serialize(value, serdes_context)})
            if len(inline.encode("utf-8")) <= _OVERFLOW_THRESHOLD_BYTES:
                return inline
        envelope: dict[str, Any] = {"file": self._write(value, serdes_context)}
        if config.generate_preview is not None:
            preview = config.generate_preview(value)
            if preview:
                envelope["preview"] = preview
        return json.dumps(envelope)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        envelope = json.loads(data)
        if not isinstance(envelope, dict) or not ("file" in envelope or "data" in envelope):
            raise ValueError('not a filesystem serdes envelope (no "file" or "data")')
        if "file" in envelope:
            with open(envelope["file"], encoding="utf-8") as stored:
                text = stored.read()
        else:
            text = envelope["data"]
        return self._config.serdes.deserialize(text, serdes_context)

    def path_for(self, serdes_context: SerDesContext) -> str:
        """The file a value of this operation of this execution is written to."""
        encoding = self._config.path_encoding
        arn = serdes_context.durable_execution_arn
        match = _EXECUTION_ARN.match(arn) if encoding is FileSystemPathEncoding.URI else None
        if match is not None:
            parts = (_segment(part, encoding) for part in match.groups())
            directory = os.path.join(self._base_path, *parts)
        else:
            directory = os.path.join(self._base_path, _segment(arn, encoding))
        return os.path.join(directory, f"{_segment(serdes_context.operation_id, encoding)}.json")

    def _write(self, value: Any, serdes_context: SerDesContext) -> str:
        text = self._config.serdes.serialize(value, serdes_context)
        path = self.path_for(serdes_context)
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stored:
                stored.write(text)
                stored.flush()
                os.fsync(stored.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _fsync_directory(directory)
        return path


def _segment(value: str, encoding: FileSystemPathEncoding) -> str:
    if encoding is FileSystemPathEncoding.HASH:
        return hashlib.sha256(value.encode()).hexdigest()
    return quote(value, safe="")


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (where directories can be opened)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
