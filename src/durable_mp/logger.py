"""Replay-aware logging.

``ctx.logger`` drops records while its context replays operations that were logged in an
earlier invocation, so a line appears once per execution, not once per invocation. Every
record carries the execution ARN and, for operations, the operation id, name and attempt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from durable_mp.types import LoggerInterface


@dataclass(frozen=True)
class LogInfo:
    durable_execution_arn: str
    parent_id: str | None = None
    operation_id: str | None = None
    name: str | None = None
    attempt: int | None = None

    def fields(self) -> dict[str, object]:
        extra: dict[str, object] = {"executionArn": self.durable_execution_arn}
        if self.parent_id:
            extra["parentId"] = self.parent_id
        if self.name:
            extra["operationName"] = self.name  # 'name' is reserved by LogRecord
        if self.attempt is not None:
            extra["attempt"] = self.attempt
        if self.operation_id:
            extra["operationId"] = self.operation_id
        return extra


def _never_replaying() -> bool:
    return False


class Logger:
    """A logger wrapper that adds execution fields and stays quiet during replay."""

    def __init__(
        self,
        logger: LoggerInterface,
        default_extra: Mapping[str, object],
        is_replaying: Callable[[], bool] = _never_replaying,
    ) -> None:
        self._logger = logger
        self._default_extra = dict(default_extra)
        self._is_replaying = is_replaying

    @classmethod
    def from_log_info(
        cls,
        logger: LoggerInterface,
        info: LogInfo,
        is_replaying: Callable[[], bool] = _never_replaying,
    ) -> Logger:
        return cls(logger, info.fields(), is_replaying)

    def with_log_info(self, info: LogInfo) -> Logger:
        return Logger(self._logger, info.fields(), self._is_replaying)

    def with_is_replaying(self, is_replaying: Callable[[], bool]) -> Logger:
        return Logger(self._logger, self._default_extra, is_replaying)

    def get_logger(self) -> LoggerInterface:
        return self._logger

    @property
    def fields(self) -> dict[str, object]:
        return dict(self._default_extra)

    def debug(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._log(self._logger.debug, msg, args, extra)

    def info(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._log(self._logger.info, msg, args, extra)

    def warning(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None:
        self._log(self._logger.warning, msg, args, extra)

    def error(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._log(self._logger.error, msg, args, extra)

    def exception(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None:
        self._log(self._logger.exception, msg, args, extra)

    def log(self, level: int, msg: str, extra: Mapping[str, object] | None = None) -> None:
        """Emit an already formatted record (forwarded from a worker process)."""
        if self._is_replaying():
            return
        merged = {**self._default_extra, **(extra or {})}
        underlying: Any = self._logger
        if isinstance(underlying, logging.Logger):
            underlying.log(level, "%s", msg, extra=merged)
            return
        method = {
            logging.DEBUG: underlying.debug,
            logging.INFO: underlying.info,
            logging.WARNING: underlying.warning,
        }.get(level, underlying.error)
        method(msg, extra=merged)

    def _log(
        self,
        emit: Callable[..., None],
        msg: object,
        args: tuple[object, ...],
        extra: Mapping[str, object] | None,
    ) -> None:
        if self._is_replaying():
            return
        emit(msg, *args, extra={**self._default_extra, **(extra or {})})
