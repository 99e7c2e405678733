"""``durable-mp callback`` and ``durable-mp stop``: act on an execution from outside.

They open the store a ``durable-mp run --store`` drives, usually from another terminal
while that run waits; the run notices the change at its next poll. A request the service
rejects (an unknown callback id, a callback already completed) is a usage error: one
line that says what to do, exit status 2.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from durable_mp.cli.common import EXIT_SUCCEEDED, UsageError, check_size, read_limited
from durable_mp.cli.inspect_cmd import open_existing_store

if TYPE_CHECKING:
    import argparse

    from durable_mp.lambda_service import ErrorObject

_ERROR_FIELDS = ("ErrorType", "ErrorMessage", "ErrorData", "StackTrace")
_STORE_HELP = "the SQLite store of the run that waits for it"


def add_parsers(commands: Any) -> None:
    callback = commands.add_parser(
        "callback",
        help="complete a callback an execution waits for, or send its heartbeat",
        description="Complete (or keep alive) a callback of an execution in a store, as "
        "SendDurableExecutionCallbackSuccess / Failure / Heartbeat do. `durable-mp run` "
        "prints the id when the callback starts.",
    )
    actions = callback.add_subparsers(dest="action", metavar="ACTION", parser_class=type(callback))
    actions.required = True
    succeed = actions.add_parser("succeed", help="complete the callback with a result")
    result = succeed.add_mutually_exclusive_group()
    result.add_argument(
        "--result", metavar="JSON", help="the callback's result, as JSON (default: none)"
    )
    result.add_argument(
        "--result-file", metavar="PATH", help="read the result (JSON, up to 1 MB) from a file"
    )
    fail = actions.add_parser("fail", help="fail the callback with an error")
    error = fail.add_mutually_exclusive_group()
    error.add_argument(
        "--error",
        metavar="JSON",
        help='{"ErrorType": ..., "ErrorMessage": ..., "ErrorData": ...}, or a plain message',
    )
    error.add_argument(
        "--error-file", metavar="PATH", help="read the error (as --error, up to 1 MB) from a file"
    )
    heartbeat = actions.add_parser("heartbeat", help="restart the callback's heartbeat timeout")
    for action in (succeed, fail, heartbeat):
        action.add_argument("callback_id", metavar="CALLBACK_ID", help="the id the run printed")
        action.add_argument("--store", metavar="PATH", required=True, help=_STORE_HELP)
        action.set_defaults(handler=send_callback)

    stop = commands.add_parser(
        "stop",
        help="stop a running execution",
        description="Stop a running execution (StopDurableExecution): it ends STOPPED and "
        "its run ends.",
    )
    stop.add_argument("name", metavar="NAME", help="execution name (or ARN)")
    stop.add_argument("--store", metavar="PATH", required=True, help="the run's SQLite store")
    stop.add_argument(
        "--error", metavar="JSON", help="why: an error object as JSON, or a plain message"
    )
    stop.set_defaults(handler=stop_execution)


def send_callback(args: argparse.Namespace) -> int:
    from durable_mp.local import CallbackRequestError

    result = _payload(args, "result")
    if result is not None:
        _require_json(result, "--result-file" if args.result_file else "--result")
    error_text = _payload(args, "error")
    error = parse_error(error_text) if error_text is not None else None
    service = open_existing_store(args.store)
    try:
        if args.action == "succeed":
            record = service.send_callback_success(args.callback_id, result)
        elif args.action == "fail":
            record = service.send_callback_failure(args.callback_id, error)
        else:
            record = service.send_callback_heartbeat(args.callback_id)
    except CallbackRequestError as rejected:
        raise UsageError(f"{rejected} ({rejected.code})") from None
    finally:
        service.close()
    done = {"succeed": "succeeded", "fail": "failed", "heartbeat": "kept alive"}[args.action]
    follow = (
        "its heartbeat timeout starts over"
        if args.action == "heartbeat"
        else f"execution {record.name} resumes (a waiting durable-mp run picks it up; "
        "otherwise run its command again)"
    )
    print(f"callback {done}; {follow}", file=sys.stderr)
    return EXIT_SUCCEEDED


def _payload(args: argparse.Namespace, kind: str) -> str | None:
    """``--result``/``--error``, or the content of ``--result-file``/``--error-file``."""
    from durable_mp.local.callbacks import MAX_CALLBACK_PAYLOAD_BYTES

    path = getattr(args, f"{kind}_file", None)
    if path is None:
        text: str | None = getattr(args, kind, None)
        if text is not None:
            check_size(text, f"--{kind}", MAX_CALLBACK_PAYLOAD_BYTES, f"a callback {kind}")
        return text
    text = read_limited(path, f"--{kind}-file", MAX_CALLBACK_PAYLOAD_BYTES, f"a callback {kind}")
    return text.strip()


def stop_execution(args: argparse.Namespace) -> int:
    from durable_mp.local import ExecutionNotFoundError

    error = parse_error(args.error) if args.error is not None else None
    service = open_existing_store(args.store)
    try:
        before = service.find_execution(args.name) or service.get_execution(args.name)
        record = service.stop_execution(before.arn, error)
    except ExecutionNotFoundError:
        raise UsageError(
            f"no execution named '{args.name}' in {args.store}; see durable-mp list --store"
        ) from None
    finally:
        service.close()
    if before.is_terminal or record.status != "STOPPED":
        print(
            f"execution {record.name} had already ended ({record.status}); nothing to stop",
            file=sys.stderr,
        )
    else:
        print(f"execution {record.name} stopped", file=sys.stderr)
    return EXIT_SUCCEEDED


def parse_error(text: str) -> ErrorObject:
    """``--error``: an object with the API's error fields, or a plain message."""
    from durable_mp.lambda_service import ErrorObject

    try:
        value = json.loads(text)
    except json.JSONDecodeError as problem:
        if text.lstrip().startswith(("{", "[", '"')):
            raise UsageError(f"--error is not valid JSON ({problem})") from None
        return ErrorObject.from_message(text)
    if isinstance(value, str):
        return ErrorObject.from_message(value)
    if not isinstance(value, dict):
        raise UsageError(
            "--error must be a JSON object with ErrorType, ErrorMessage, ErrorData, or a message"
        )
    unknown = sorted(set(value) - set(_ERROR_FIELDS))
    if unknown:
        raise UsageError(
            f"--error has unknown field(s) {', '.join(unknown)}; use {', '.join(_ERROR_FIELDS)}"
        )
    for field in _ERROR_FIELDS[:3]:
        if field in value and not isinstance(value[field], str):
            raise UsageError(f"--error: {field} must be a string")
    trace = value.get("StackTrace")
    if trace is not None and not (
        isinstance(trace, list) and all(isinstance(line, str) for line in trace)
    ):
        raise UsageError("--error: StackTrace must be a list of strings")
    return ErrorObject.from_dict(value)


def _require_json(text: str, option: str) -> None:
    try:
        json.loads(text)
    except json.JSONDecodeError as problem:
        raise UsageError(
            f"{option} is not valid JSON ({problem}); quote strings, e.g. '\"approved\"'"
        ) from None
