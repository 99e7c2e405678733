"""``durable-mp run``: run a durable handler to the end on the embedded service.

With ``--store`` the execution lives in a SQLite file: kill the process at any moment and
run the identical command again to resume -- completed steps are not run again. While it
waits for a callback it prints the ``durable-mp callback`` command that completes it from
another terminal; ``--function NAME=TARGET`` makes NAME a target of ``ctx.invoke``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_mp.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_SUCCEEDED,
    EXIT_TERMINATED,
    UsageError,
    check_size,
    read_limited,
)
from durable_mp.cli.progress import OperationFormatter, Progress, ProgressLogHandler
from durable_mp.config import STEP_EXECUTORS
from durable_mp.targets import TargetError, load_target

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import FrameType

    from durable_mp.local import ExecutionRecord, LocalRunner, LocalService

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="run a durable handler to completion on the embedded service",
        description=__doc__,
    )
    parser.add_argument(
        "target", metavar="TARGET", help="path/to/file.py:function or package.module:function"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="JSON", help="the execution's input, as JSON")
    source.add_argument("--input-file", metavar="PATH", help="read the input (JSON) from a file")
    parser.add_argument(
        "--store",
        metavar="PATH",
        help="SQLite file that makes the run durable (default: in memory)",
    )
    parser.add_argument(
        "--name",
        metavar="NAME",
        help="execution name (letters, digits, - and _); with --store, "
        "defaults to one derived from TARGET and the input",
    )
    parser.add_argument(
        "--executor",
        choices=STEP_EXECUTORS,
        help="where step bodies run (default: the handler's choice, else process)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="worker processes for process-mode steps (default: usable CPUs)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the Lambda output object as the last line of stdout",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=LOG_LEVELS,
        help="DEBUG also shows active-context hand-offs (default: INFO)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="if another durable-mp run drives the execution, wait for it to finish and "
        "report the outcome (or take over if it dies) instead of exiting with status 2",
    )
    parser.add_argument(
        "--fast-forward",
        action="store_true",
        help="fire waits and retry timers at once instead of sleeping (testing)",
    )
    parser.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="NAME=TARGET",
        help="a function ctx.invoke can reach by NAME: a @durable_execution handler (runs as "
        "its own execution) or a plain handler(event, context); repeatable",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    input_payload = _read_input(args)
    try:
        target = load_target(args.target, step_executor=args.executor, workers=args.workers)
    except TargetError as error:
        raise UsageError(str(error)) from None
    # Imported after the handler, whose import starts the worker pool: its fork server
    # boots meanwhile.
    from durable_mp.local import ExecutionOwnedError, LocalRunner
    from durable_mp.local.store import StoreDamagedError, StoreError, StoreIOError

    function_name = target.function_name
    durable, plain = _invoke_targets(args, function_name)
    try:
        service = _open_service(args.store)
    except StoreIOError as failed:  # a full disk, an I/O error: before anything ran
        print(f"durable-mp run: {failed}; fix that (e.g. free disk space) and run the same "
              "command again", file=sys.stderr)
        return EXIT_FAILED
    progress = Progress(sys.stderr, live=sys.stderr.isatty(), store=args.store)
    _configure_logging(args.log_level, progress)
    try:
        name = _execution_name(args, target.spec, input_payload)
        runner = LocalRunner(
            service,
            {function_name: target.lambda_handler, **durable},
            plain_functions=plain,
            fast_forward=args.fast_forward,
        )
        shown = _Shown(progress)
        service.add_listener(shown)
        arn, on_owned = _start_or_resume(
            service,
            runner,
            name=name,
            function_name=function_name,
            input_payload=input_payload,
            args=args,
            shown=shown,
        )
        shown.main_arn = arn
        record = service.get_execution(arn)
        if record.status == "RUNNING":
            try:
                with _sigterm_as_interrupt():
                    record = runner.drive(arn, wait=args.wait, on_owned=on_owned)
            except ExecutionOwnedError as owned:
                raise UsageError(_owned_message(str(owned), record.name, args)) from None
            except StoreDamagedError:
                _quiet_exit()
                progress.close()
                raise  # one line: what is damaged, and what to do
            except StoreError as failed:
                _quiet_exit()
                progress.close()
                print(
                    f"durable-mp run: {failed}; the execution is intact (nothing it completed "
                    "is lost): fix that (e.g. free disk space) and run the same command "
                    "again to resume",
                    file=sys.stderr,
                )
                return EXIT_FAILED
            except KeyboardInterrupt as interrupt:
                _quiet_exit()
                progress.close()
                how = str(interrupt) or "SIGINT"
                hint = (
                    "the invocation in flight is recorded as interrupted; run the same "
                    "command again to resume"
                    if args.store
                    else "the execution was in memory; use --store to make runs resumable"
                )
                print(f"durable-mp run: interrupted ({how}); {hint}", file=sys.stderr)
                return EXIT_TERMINATED if how == "SIGTERM" else EXIT_INTERRUPTED
        else:
            progress.write_line(
                f"execution {record.name} already {record.status} in {args.store}; showing its "
                "result (use another --name to run again)"
            )
    finally:
        progress.close()
    _quiet_exit()
    return _report(record, args)


class _Shown:
    """The history events a run shows: its execution's, and the callbacks its chained
    children wait for. They are held until the run owns the execution, so a run that
    finds another one driving it says so in one line and nothing else."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.main_arn: str | None = None
        self._held: list[tuple[str, dict[str, Any]]] | None = []

    def __call__(self, arn: str, event: dict[str, Any]) -> None:
        if self._held is not None:
            self._held.append((arn, event))
        else:
            self._show(arn, event)

    def owned(self, line: str | None) -> None:
        """This run drives the execution now: show ``line``, else what was held."""
        held, self._held = self._held or [], None
        if line is not None:
            self.progress.write_line(line)
            return
        for arn, event in held:
            self._show(arn, event)

    def _show(self, arn: str, event: dict[str, Any]) -> None:
        progress = self.progress
        if self.main_arn is None or arn == self.main_arn:
            progress.on_event(event)
        elif event.get("EventType") == "CallbackStarted":  # a chained child waits for it
            details = event.get("CallbackStartedDetails") or {}
            label = f"'{event['Name']}'" if event.get("Name") else "of a chained invoke"
            progress.write_line(progress.callback_hint(label, details.get("CallbackId", "")))


def _start_or_resume(
    service: LocalService,
    runner: LocalRunner,
    *,
    name: str | None,
    function_name: str,
    input_payload: str | None,
    args: argparse.Namespace,
    shown: _Shown,
) -> tuple[str, Callable[[], None]]:
    """The ARN of the execution this run drives (the existing one of that name, checked
    to be the same function and input, or a new one), and what to say once it is ours."""
    from durable_mp.local import ExecutionNameConflictError
    from durable_mp.local.owners import describe

    existing = service.find_execution(name) if name else None
    if existing is None:
        try:
            arn = runner.start(function_name, input_payload, name=name)
            return arn, lambda: shown.owned(None)  # "execution ... started"
        except ExecutionNameConflictError:  # another run started it a moment ago
            existing = service.find_execution(name or "")
            if existing is None:
                raise
    _check_same_execution(existing, function_name, input_payload, args)
    arn, label = existing.arn, existing.name
    waited = False
    owner = service.owner_of(arn) if existing.status == "RUNNING" else None
    if owner is not None:
        if not args.wait:
            message = f"execution {label} is being run by {describe(owner)}"
            raise UsageError(_owned_message(message, label, args))
        waited = True
        shown.progress.write_line(
            f"execution {label} is being run by {describe(owner)}; waiting for it to finish "
            "(or to take over if it stops)"
        )

    def owned() -> None:
        if waited:
            shown.owned(f"the runner of execution {label} stopped; taking it over")
        else:
            shown.owned(f"resuming execution {label} from {args.store}")
        _show_waiting_callbacks(service, arn, shown.progress)

    return arn, owned


def _owned_message(message: str, name: str, args: argparse.Namespace) -> str:
    """One line: who runs it, and what to do."""
    first = message.partition(";")[0]
    return (
        f"{first}; add --wait to wait for it to finish, or stop it with "
        f"durable-mp stop {name} --store {args.store}"
    )


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the run as Ctrl-C does: the invocation in flight is recorded as
    interrupted and the run exits (143) instead of dying where it stands."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt("SIGTERM")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave SIGTERM alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _quiet_exit() -> None:
    """The process is about to exit: an invocation still on its thread (a stopped
    execution's, an interrupted one's) must not log its way through the shutdown."""
    logging.disable(logging.CRITICAL)


def _invoke_targets(
    args: argparse.Namespace, own_name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--function NAME=TARGET`` entries: durable handlers, and plain handlers."""
    durable: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    for entry in args.function:
        name, sep, spec = entry.partition("=")
        if not sep or not NAME_PATTERN.match(name) or not spec:
            raise UsageError(
                f"--function {entry!r} is not NAME=TARGET (NAME: 1 to 64 letters, digits, "
                "'-' or '_'), e.g. --function child=jobs.py:child"
            )
        if name == own_name or name in durable or name in plain:
            raise UsageError(f"--function {name} is given twice (or is the run's own function)")
        try:
            loaded = load_target(spec, step_executor=args.executor, workers=args.workers)
        except TargetError as error:
            raise UsageError(f"--function {name}: {error}") from None
        handler = getattr(loaded.module, loaded.attribute)
        if hasattr(handler, "__durable_handler__"):
            durable[name] = loaded.lambda_handler
        else:
            plain[name] = handler
    return durable, plain


def _show_waiting_callbacks(service: LocalService, arn: str, progress: Progress) -> None:
    """A resumed run repeats how to complete the callbacks it (or a child) still waits for."""
    from durable_mp.lambda_service import OperationStatus, OperationType

    executions = [arn]
    for execution in executions:
        executions.extend(service.running_children(execution))
        for op in service.get_operations(execution):
            if (
                op.operation_type is OperationType.CALLBACK
                and op.status is OperationStatus.STARTED
                and op.callback_details is not None
            ):
                label = f"'{op.name}'" if op.name else f"#{op.operation_id[:8]}"
                progress.write_line(progress.callback_hint(label, op.callback_details.callback_id))


def _read_input(args: argparse.Namespace) -> str | None:
    from durable_mp.lambda_service import MAX_OPERATION_PAYLOAD_BYTES

    text: str | None = args.input
    origin = "--input"
    what = "an execution's input"
    if args.input_file is not None:
        origin = f"--input-file {args.input_file}"
        text = read_limited(args.input_file, "--input-file", MAX_OPERATION_PAYLOAD_BYTES, what)
    if text is None:
        return None
    check_size(text, origin, MAX_OPERATION_PAYLOAD_BYTES, what)
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{origin} is not valid JSON ({error}); quote strings, e.g. '\"World\"'"
        ) from None
    return text


def _open_service(store: str | None) -> LocalService:
    from durable_mp.local import LocalService
    from durable_mp.local.store import NotAStoreError, StoreDamagedError, StoreIOError

    if store is None:
        return LocalService()
    path = Path(store)
    if path.is_dir():
        raise UsageError(
            f"--store {store} is a directory; give a file path such as {store}/runs.db"
        )
    if not path.parent.exists():
        raise UsageError(f"--store {store}: directory {path.parent} does not exist")
    try:
        return LocalService(path)
    except NotAStoreError as error:
        raise UsageError(f"{error}; it was left as it was (use another --store path)") from None
    except (StoreDamagedError, StoreIOError):
        raise  # one line, exit 1 (the caller says what to do)
    except Exception as error:
        raise UsageError(
            f"--store {store} cannot be opened as a durable-mp store: {error}"
        ) from None


def _execution_name(args: argparse.Namespace, spec: str, input_payload: str | None) -> str | None:
    if args.name is not None:
        if not NAME_PATTERN.match(args.name):
            raise UsageError(
                f"--name {args.name!r} is not a valid execution name: use 1 to 64 letters, "
                "digits, '-' or '_'"
            )
        name: str = args.name
        return name
    if args.store is None:
        return None
    digest = hashlib.sha256(f"{spec}\0{input_payload}".encode()).hexdigest()[:12]
    stem = re.sub(r"[^a-zA-Z0-9_-]", "-", spec.rpartition(":")[2])[:40] or "run"
    return f"{stem}-{digest}"


def _check_same_execution(
    record: ExecutionRecord, function_name: str, input_payload: str | None, args: argparse.Namespace
) -> None:
    if record.function_name != function_name:
        raise UsageError(
            f"execution {record.name} in {args.store} runs function '{record.function_name}', "
            f"not '{function_name}'; use another --name"
        )
    if _canonical(record.input_payload) != _canonical(input_payload):
        raise UsageError(
            f"execution {record.name} in {args.store} was started with a different input; "
            "use another --name to start a new execution"
        )


def _canonical(payload: str | None) -> Any:
    if payload is None or not payload.strip():
        return None
    try:
        return json.loads(payload)
    except json.JSONDecodeError:
        return payload


def _configure_logging(level: str, progress: Progress) -> None:
    handler = ProgressLogHandler(progress)
    handler.setFormatter(OperationFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if level != "DEBUG":
        return
    for noisy in ("botocore", "urllib3", "boto3"):
        logging.getLogger(noisy).setLevel(logging.INFO)


def _report(record: ExecutionRecord, args: argparse.Namespace) -> int:
    error = record.error.to_dict() if record.error is not None else None
    if record.status == "SUCCEEDED":
        if args.json:
            print(json.dumps({"Status": "SUCCEEDED", "Result": record.result}))
        elif record.result is not None:
            print(record.result)
        return EXIT_SUCCEEDED
    summary = f"execution {record.name} {record.status}"
    if record.status == "STOPPED":
        summary = f"execution {record.name} was stopped (durable-mp stop)"
    if error:
        summary += f": {error.get('ErrorType', 'Error')}: {error.get('ErrorMessage', '')}"
    print(summary, file=sys.stderr)
    if args.json:
        output: dict[str, Any] = {
            "Status": "FAILED" if record.status == "FAILED" else record.status
        }
        if error:
            output["Error"] = error
        print(json.dumps(output))
    return EXIT_FAILED
