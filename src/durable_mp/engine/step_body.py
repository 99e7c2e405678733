"""What runs where the step body runs (a worker process, a pool thread, or inline).

:func:`run_step_body` builds the :class:`StepContext`, calls the body and serializes its
result with the step's serdes -- in the worker, in process mode, so the parent only
receives a string. It is importable by reference, so only the user's function travels by
value.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from durable_mp.engine.activity import inside_step_body
from durable_mp.serdes import SerDes, serialize
from durable_mp.types import LoggerInterface, StepContext

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


@dataclass(frozen=True)
class StepBodyCall:
    """Everything one attempt of a step body needs, wherever it runs."""

    func: Callable[[StepContext], Any]
    attempt: int
    step_logger: LoggerInterface
    serdes: SerDes[Any] | None
    operation_id: str
    durable_execution_arn: str
    label: str


def run_step_body(call: StepBodyCall) -> str | None:
    """Run one attempt of a step body and return its serialized result."""
    with inside_step_body(call.label):
        result = call.func(StepContext(logger=call.step_logger, attempt=call.attempt))
    return serialize(call.serdes, result, call.operation_id, call.durable_execution_arn)


class ForwardingLogger:
    """The step logger inside a worker: records travel to the parent's logging.

    Formatting happens here (``msg % args``) so only strings cross the pipe.
    """

    def __init__(self, extra: Mapping[str, object]) -> None:
        self._extra = dict(extra)

    def _emit(
        self,
        level: int,
        msg: object,
        args: tuple[object, ...],
        extra: Mapping[str, object] | None,
        with_traceback: bool = False,
    ) -> None:
        from durable_mp.workers.channel import in_worker, send_to_parent

        text = str(msg) % args if args else str(msg)
        if with_traceback:
            text = f"{text}\n{traceback.format_exc().rstrip()}"
        fields = {**self._extra, **{k: _plain(v) for k, v in (extra or {}).items()}}
        if in_worker():
            try:
                send_to_parent(("log", level, text, fields))
                return
            except RuntimeError:  # a thread the step left behind logs after it ended
                pass
        logging.getLogger("durable_mp.step").log(level, text, extra=fields)

    def debug(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit(logging.DEBUG, msg, args, extra)

    def info(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit(logging.INFO, msg, args, extra)

    def warning(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None:
        self._emit(logging.WARNING, msg, args, extra)

    def error(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit(logging.ERROR, msg, args, extra)

    def exception(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None:
        self._emit(logging.ERROR, msg, args, extra, with_traceback=True)

    def critical(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None:
        self._emit(logging.CRITICAL, msg, args, extra)


def _plain(value: object) -> object:
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
