"""The embedded service's shortcuts give exactly what the long way gives.

Each fast path skips work only when it can prove the result is the same: the stored
form of an operation (a JSON round trip), the wire form of an update, the decoded
operation cache, the caching of reads and queued writes inside a transaction.
"""

from __future__ import annotations

import datetime
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_mp.lambda_service import (
    CallbackDetails,
    CallbackOptions,
    ChainedInvokeDetails,
    ChainedInvokeOptions,
    ContextDetails,
    ContextOptions,
    ErrorObject,
    ExecutionDetails,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepDetails,
    StepOptions,
    WaitDetails,
    WaitOptions,
)
from durable_mp.local import LocalRunner, LocalService
from durable_mp.local.journal import stored_form
from durable_mp.local.service import _as_on_the_wire
from durable_mp.local.sqlite_store import SqliteStore
from durable_mp.local.store import DuplicateKeyError, StoredOperation
from durable_mp.local.tokens import CheckpointToken

texts = st.one_of(st.none(), st.just(""), st.text(max_size=12))
timestamps = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime.datetime(2000, 1, 1),
        max_value=datetime.datetime(2100, 1, 1),
        timezones=st.sampled_from([datetime.UTC, datetime.timezone(datetime.timedelta(hours=2))]),
    ),
)
errors = st.one_of(
    st.none(),
    st.builds(
        ErrorObject,
        message=texts,
        type=texts,
        data=texts,
        stack_trace=st.one_of(st.none(), st.lists(st.text(max_size=5), max_size=2)),
    ),
)
operations = st.builds(
    Operation,
    operation_id=st.text(min_size=1, max_size=8),
    operation_type=st.sampled_from(list(OperationType)),
    status=st.sampled_from(list(OperationStatus)),
    parent_id=texts,
    name=texts,
    start_timestamp=timestamps,
    end_timestamp=timestamps,
    sub_type=texts,
    execution_details=st.one_of(st.none(), st.builds(ExecutionDetails, texts)),
    context_details=st.one_of(st.none(), st.builds(ContextDetails, st.booleans(), texts, errors)),
    step_details=st.one_of(
        st.none(), st.builds(StepDetails, st.integers(0, 9), timestamps, texts, errors)
    ),
    wait_details=st.one_of(st.none(), st.builds(WaitDetails, timestamps)),
    callback_details=st.one_of(
        st.none(), st.builds(CallbackDetails, st.text(max_size=6), texts, errors)
    ),
    chained_invoke_details=st.one_of(st.none(), st.builds(ChainedInvokeDetails, texts, errors)),
)
updates = st.builds(
    OperationUpdate,
    operation_id=st.text(min_size=1, max_size=8),
    operation_type=st.sampled_from(list(OperationType)),
    action=st.sampled_from(list(OperationAction)),
    parent_id=texts,
    name=texts,
    sub_type=texts,
    payload=texts,
    error=errors,
    context_options=st.one_of(st.none(), st.builds(ContextOptions, st.booleans())),
    step_options=st.one_of(st.none(), st.builds(StepOptions, st.integers(0, 99))),
    wait_options=st.one_of(st.none(), st.builds(WaitOptions, st.integers(1, 99))),
    callback_options=st.one_of(
        st.none(), st.builds(CallbackOptions, st.integers(0, 9), st.integers(0, 9))
    ),
    chained_invoke_options=st.one_of(
        st.none(), st.builds(ChainedInvokeOptions, st.text(min_size=1, max_size=5), texts)
    ),
)


@settings(max_examples=400, deadline=None)
@given(operations)
def test_stored_form_is_the_json_round_trip(operation):
    expected = Operation.from_json_dict(operation.to_json_dict())
    fast = stored_form(operation)
    assert fast == expected
    assert fast.to_json_dict() == expected.to_json_dict()
    for name in ("start_timestamp", "end_timestamp"):
        value = getattr(fast, name)
        assert value is None or value.tzinfo is getattr(expected, name).tzinfo


@settings(max_examples=400, deadline=None)
@given(updates)
def test_wire_form_is_the_dict_round_trip(update):
    assert _as_on_the_wire(update) == OperationUpdate.from_dict(update.to_dict())


def test_decoded_operations_serve_later_reads_and_rolled_back_states_do_not(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    op = Operation("a", OperationType.STEP, OperationStatus.STARTED, name="n")
    with store.transaction() as tx:
        tx.put_operation("arn", StoredOperation(op, 1, 1), None)
        assert tx.operation("arn", "a") == StoredOperation(op, 1, 1)
    with store.transaction() as tx:
        first = tx.operation("arn", "a")
        assert first is not None and first.operation is op  # decoded once, reused
    done = Operation("a", OperationType.STEP, OperationStatus.SUCCEEDED, name="n")
    try:
        with store.transaction() as tx:
            tx.put_operation("arn", StoredOperation(done, 1, 2), None)
            assert [s.operation for s in tx.operations("arn")] == [done]
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    other = Operation("a", OperationType.STEP, OperationStatus.FAILED, name="n")
    with store.transaction() as tx:  # the same version, another state, as another writer
        assert tx.operation("arn", "a") == StoredOperation(op, 1, 1)
        tx.put_operation("arn", StoredOperation(other, 1, 2), None)
    with store.transaction() as tx:
        assert tx.operation("arn", "a") == StoredOperation(other, 1, 2)
    reopened = SqliteStore(tmp_path / "s.db")
    with reopened.transaction() as tx:
        assert tx.operation("arn", "a") == StoredOperation(other, 1, 2)


def test_writes_reach_every_query_of_the_same_transaction(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    due = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    wait = Operation(
        "w", OperationType.WAIT, OperationStatus.STARTED, wait_details=WaitDetails(due)
    )
    with store.transaction() as tx:
        tx.put_operation("arn", StoredOperation(wait, 1, 1), due.timestamp())
        assert tx.earliest_due("arn") == due.timestamp()
        assert [s.operation for s in tx.due_operations("arn", due.timestamp())] == [wait]
        assert tx.any_operation("arn", ("STARTED",), types=("WAIT",))
        assert [s.version for s in tx.operations_page("arn", versions=(0, 1))] == [1]
        tx.append_event("arn", 1, {"EventType": "WaitStarted", "EventId": 1})
        assert tx.last_event_id("arn") == 1
        assert tx.events("arn") == [{"EventType": "WaitStarted", "EventId": 1}]


def test_a_file_store_written_by_two_services_stays_consistent(tmp_path):
    from durable_mp import durable_execution

    @durable_execution(step_executor="inline")
    def handler(event, ctx):
        return [ctx.step(lambda _, i=i: i, name=f"s{i}") for i in range(event["n"])]

    path = tmp_path / "shared.db"
    first = LocalService(path)
    record = LocalRunner(first, {"job": handler}).run("job", {"n": 3})
    second = LocalService(path)  # another process's view of the same file
    again = LocalRunner(second, {"job": handler}).run("job", {"n": 4}, name="second")
    assert json.loads(record.result) == [0, 1, 2] and json.loads(again.result) == [0, 1, 2, 3]
    for service in (first, second):
        assert [op.name for op in service.get_operations(again.arn)][1:] == [
            "s0",
            "s1",
            "s2",
            "s3",
        ]
        assert len(service.get_history(record.arn)) == len(first.get_history(record.arn))


def test_issued_tokens_decode_to_what_they_encode():
    token = CheckpointToken("arn:x", 7, "inv")
    assert CheckpointToken.decode(token.encode()) == token
    assert CheckpointToken.decode("not a token") is None


# -- the in-memory store answers as the SQLite store does -------------------------------

_STATUSES = [OperationStatus.STARTED, OperationStatus.PENDING, OperationStatus.SUCCEEDED]
_TYPES = [OperationType.STEP, OperationType.WAIT, OperationType.CALLBACK]


def _both_stores():
    from durable_mp.local.memory_store import MemoryStore

    return SqliteStore(":memory:"), MemoryStore()


writes = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e"]),  # operation id
        st.sampled_from(_STATUSES),
        st.sampled_from(_TYPES),
        st.one_of(st.none(), st.floats(0, 100).map(lambda x: round(x, 1))),  # due_ts
        st.booleans(),  # roll this transaction back afterwards
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(writes, st.integers(-1, 6), st.integers(0, 30), st.integers(0, 30))
def test_memory_store_answers_every_query_as_sqlite_does(history, after, low, span):
    stores = _both_stores()
    for store in stores:
        version = position = 0
        for op_id, status, op_type, due_ts, roll_back in history:
            try:
                with store.transaction() as tx:
                    current = tx.operation("arn", op_id)
                    version += 1
                    if current is None:
                        position += 1
                    stored = StoredOperation(
                        Operation(op_id, op_type, status),
                        current.position if current else position,
                        version,
                    )
                    tx.put_operation("arn", stored, due_ts)
                    tx.append_event("arn", version, {"EventType": op_id, "EventId": version})
                    if roll_back:
                        raise RuntimeError
            except RuntimeError:
                version -= 1
                if current is None:
                    position -= 1
    answers = []
    for store in stores:
        with store.transaction(write=False) as tx:
            answers.append(
                (
                    tx.operations("arn"),
                    tx.operations_page("arn", after_position=after, limit=3),
                    tx.operations_page("arn", after_position=after, versions=(low, low + span)),
                    tx.due_operations("arn", 50.0),
                    tx.earliest_due("arn"),
                    tx.any_operation("arn", ("PENDING",), types=("WAIT",), changed_after=low),
                    tx.events("arn", after=after),
                    tx.last_event_id("arn"),
                    tx.operation("arn", "c"),
                )
            )
    assert answers[0] == answers[1]


row_writes = st.lists(
    st.tuples(
        st.sampled_from(["callback", "invoke", "token", "open", "close"]),
        st.sampled_from(["arn", "other"]),
        st.sampled_from(["k1", "k2", "k3"]),  # callback id, op id, request id
        st.one_of(st.none(), st.integers(0, 20)),  # a timer, a child, a sequence
        st.booleans(),  # roll this transaction back afterwards
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(row_writes, st.integers(0, 20))
def test_memory_store_keeps_callbacks_invokes_tokens_and_invocations_as_sqlite_does(
    history, until
):
    from durable_mp.local.store import CallbackRow, InvocationRow, InvokeRow

    answers = []
    for store in _both_stores():
        with store.transaction() as tx:
            for arn in ("arn", "other"):
                for position, key in enumerate(["k1", "k2", "k3"], 1):
                    op = Operation(key, OperationType.CHAINED_INVOKE, OperationStatus.STARTED)
                    tx.put_operation(arn, StoredOperation(op, 4 - position, 1), None)
        for table, arn, key, number, roll_back in history:
            try:
                with store.transaction() as tx:
                    if table == "callback":
                        timer = None if number is None else float(number)
                        tx.put_callback(CallbackRow(key, arn, "op", timer, 1, timer and timer / 2))
                    elif table == "invoke":
                        child = None if number is None else f"child-{arn}-{key}"  # one parent each
                        tx.put_invoke(InvokeRow(arn, key, "fn", child, None, None))
                    elif table == "token":
                        tx.put_token(arn, number or 0, key, 7)
                    elif table == "open":
                        if tx.open_invocation(arn) is None:
                            try:
                                tx.insert_invocation(InvocationRow(arn, key, 1.0, None))
                            except DuplicateKeyError:
                                pass
                    else:
                        tx.close_invocation(arn, key, 2.0, None)
                    if roll_back:
                        raise RuntimeError
            except RuntimeError:
                pass
        with store.transaction(write=False) as tx:
            answers.append(
                [
                    (
                        tx.due_callbacks(arn, float(until)),
                        tx.earliest_callback_due(arn),
                        [tx.callback(key) for key in ("k1", "k2", "k3")],
                        tx.running_invokes(arn),
                        [tx.invoke_of_child(f"child-{arn}-{key}") for key in ("k1", "k2", "k3")],
                        [tx.token_version(arn, n) for n in range(21)],
                        tx.open_invocation(arn),
                    )
                    for arn in ("arn", "other")
                ]
            )
    assert answers[0] == answers[1]


def test_memory_store_rolls_back_every_table():
    from durable_mp.local.store import CallbackRow, ExecutionRow, InvocationRow, InvokeRow

    for store in _both_stores():
        row = ExecutionRow("arn", "name", "fn", "x", "RUNNING", None, None, None, 1, None, 60)
        with store.transaction() as tx:
            tx.insert_execution(row)
        try:
            with store.transaction() as tx:
                changed = tx.load_execution("arn")
                changed.status, changed.version, changed.retry_at = "FAILED", 3, 5
                tx.save_execution(changed)
                tx.put_callback(CallbackRow("cb", "arn", "op", 10, 0, None))
                tx.put_invoke(InvokeRow("arn", "op", "fn", None, "{}", None))
                tx.insert_invocation(InvocationRow("arn", "req", 1, None))
                tx.put_token("arn", 1, "req", 0)
                assert tx.load_execution("arn").retry_at == 5.0
                assert tx.open_invocation("arn") == InvocationRow("arn", "req", 1.0, None)
                raise RuntimeError
        except RuntimeError:
            pass
        with store.transaction(write=False) as tx:
            assert tx.load_execution("arn") == row
            assert tx.callback("cb") is None
            assert tx.invoke_of_child("x") is None and tx.running_invokes("arn") == []
            assert tx.open_invocation("arn") is None
            assert tx.token_version("arn", 1) is None
        with pytest.raises(DuplicateKeyError), store.transaction() as tx:
            tx.insert_execution(row)


@given(st.text(), st.integers(0, 10**9), st.text())
def test_token_text_is_the_json_dumps_one(arn, sequence, invocation):
    import base64

    body = json.dumps({"arn": arn, "seq": sequence, "inv": invocation}, separators=(",", ":"))
    expected = base64.urlsafe_b64encode(body.encode()).decode()
    assert CheckpointToken(arn, sequence, invocation).encode() == expected
