"""``durable-mp history`` and ``durable-mp list``: read executions from a store."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_mp.cli.common import EXIT_SUCCEEDED, UsageError

if TYPE_CHECKING:
    import argparse

    from durable_mp.local import LocalService
    from durable_mp.local.store import LeaseRow


def add_parsers(commands: Any) -> None:
    history = commands.add_parser(
        "history",
        help="show the history events of an execution",
        description="Show the GetDurableExecutionHistory events of one execution in a store.",
    )
    history.add_argument("name", metavar="NAME", help="execution name (or ARN)")
    history.add_argument("--store", metavar="PATH", required=True, help="the run's SQLite store")
    history.add_argument("--json", action="store_true", help="print the events as JSON")
    history.set_defaults(handler=show_history)

    listing = commands.add_parser(
        "list",
        help="list the executions in a store",
        description="List the executions recorded in a store, oldest first.",
    )
    listing.add_argument("--store", metavar="PATH", required=True, help="the run's SQLite store")
    listing.add_argument("--json", action="store_true", help="print the executions as JSON")
    listing.set_defaults(handler=list_executions)


def open_existing_store(store: str, *, read_only: bool = False) -> LocalService:
    """The store a run made; ``read_only`` never writes to it (and never waits for a
    writer), so it works on a read-only mount or another user's file."""
    from durable_mp.local import LocalService
    from durable_mp.local.store import NotAStoreError, StoreDamagedError

    if not Path(store).is_file():
        raise UsageError(
            f"--store {store}: no such store file (it is created by durable-mp run --store)"
        )
    try:
        return LocalService(store, read_only=read_only)
    except NotAStoreError as error:
        raise UsageError(f"{error}; it was left as it was") from None
    except StoreDamagedError:
        raise  # one line, exit 1: what to do is in the message
    except Exception as error:
        raise UsageError(
            f"--store {store} cannot be opened as a durable-mp store: {error}"
        ) from None


def show_history(args: argparse.Namespace) -> int:
    from durable_mp.local import history_to_json

    service = open_existing_store(args.store, read_only=True)
    record = service.find_execution(args.name)
    if record is None:
        known = ", ".join(r.name for r in service.list_executions()[-5:]) or "none"
        raise UsageError(
            f"no execution named '{args.name}' in {args.store} (most recent: {known}); "
            "see durable-mp list --store"
        )
    events = history_to_json(service.get_history(record.arn))
    if args.json:
        print(json.dumps(events, indent=2))
        return EXIT_SUCCEEDED
    for event in events:
        print(_describe(event))
    return EXIT_SUCCEEDED


def list_executions(args: argparse.Namespace) -> int:
    from durable_mp.local.owners import describe

    service = open_existing_store(args.store, read_only=True)
    records = service.list_executions()
    owners = service.execution_owners()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "Name": r.name,
                        "Status": r.status,
                        "FunctionName": r.function_name,
                        "DurableExecutionArn": r.arn,
                        "StartTimestamp": _iso(r.start_timestamp),
                        "EndTimestamp": _iso(r.end_timestamp),
                        "Owner": _owner_json(owners.get(r.arn)),
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return EXIT_SUCCEEDED
    if not records:
        print(f"no executions in {args.store}", file=sys.stderr)
        return EXIT_SUCCEEDED
    width = max(len(r.name) for r in records)
    for r in records:
        started = _iso(r.start_timestamp) or ""
        line = f"{r.name:<{width}}  {r.status:<9}  {r.function_name}  {started}"
        owner = owners.get(r.arn)
        if owner is not None:
            line += f"  run by {describe(owner)}"
        elif r.status == "RUNNING":
            line += "  (nobody runs it: run its command again to resume)"
        print(line)
    return EXIT_SUCCEEDED


def _owner_json(lease: LeaseRow | None) -> dict[str, Any] | None:
    if lease is None:
        return None
    since = datetime.datetime.fromtimestamp(lease.acquired_ts, datetime.UTC)
    return {"Pid": lease.pid, "Host": lease.host, "Since": since.isoformat()}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _describe(event: dict[str, Any]) -> str:
    kind = event["EventType"]
    parts = [f"{event['EventId']:>4}", str(event.get("EventTimestamp", ""))[:23], kind]
    if event.get("Name"):
        parts.append(f"'{event['Name']}'")
    details = event.get(f"{kind}Details") or {}
    retry = details.get("RetryDetails") or {}
    if "CurrentAttempt" in retry:
        parts.append(f"attempt {retry['CurrentAttempt']}")
    if "NextAttemptDelaySeconds" in retry:
        parts.append(f"retry in {retry['NextAttemptDelaySeconds']} s")
    if "Duration" in details:
        parts.append(f"{details['Duration']} s")
    error = (details.get("Error") or {}).get("Payload")
    if error:
        parts.append(f"{error.get('ErrorType', 'Error')}: {error.get('ErrorMessage', '')}")
    return "  ".join(parts)
