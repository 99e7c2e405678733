"""The harness itself: matching rules, variables, logs, waivers, callbacks, handler lookup.

A harness that passes everything proves nothing; these tests show each rule rejecting
what it must reject, with the one-line error a failing requirement reports.
"""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest

from tests.conformance import registry
from tests.conformance.callbacks import CallbackDriver
from tests.conformance.limitations import EMULATOR_LIMITATIONS, OMISSIONS, waiver
from tests.conformance.logs import LogBook, first_logs_error, install_json_lines, read_json_lines
from tests.conformance.matching import first_history_error, first_result_error
from tests.conformance.outcome import Observation, normalize
from tests.conformance.run import run_requirement
from tests.conformance.spec import generate, load, substitute

STEP = {"EventType": "StepStarted", "EventId": 2, "Id": "abc", "StepStartedDetails": {}}


def history(*events: dict) -> list[dict]:
    return [{"EventType": "ExecutionStarted", "EventId": 1}, *events]


@pytest.mark.parametrize(
    ("expected", "actual", "error"),
    [
        ({"Id": "*"}, {"Id": "x"}, None),
        ({"Id": "*"}, {}, "event 2 (None): Id: missing (expected '*')"),
        ({"D": {}}, {"D": {"anything": 1}}, None),
        ({"D": {}}, {}, "event 2 (None): D: missing (expected {})"),
        ({"Name": "${/^wait-\\d$/}"}, {"Name": "wait-1"}, None),
        ({"Name": "${/^wait-\\d$/}"}, {"Name": "wait-x"}, "does not match"),
        ({"D": {"Duration": 2}}, {"D": {"Duration": 3}}, "D.Duration: expected 2, got 3"),
        ({"D": {"Duration": 2}}, {"D": {"Duration": 2, "extra": 1}, "extra": 2}, None),
        ({"L": [1, "*"]}, {"L": [1, 5]}, None),
        ({"L": [1, "*"]}, {"L": [1]}, "L: expected [1, '*'], got [1]"),
    ],
)
def test_values_match_by_the_rules(expected, actual, error):
    found = first_history_error([{"EventId": 2, **expected}], history({"EventId": 2, **actual}))
    if error is None:
        assert found is None
    else:
        assert found is not None and error in found


def test_a_placeholder_binds_on_first_sight_and_must_agree_after():
    expected = [{"EventId": 2, "Id": "${ID1}"}, {"EventId": 3, "Id": "${ID1}"}]
    same = history({"EventId": 2, "Id": "a"}, {"EventId": 3, "Id": "a"})
    other = history({"EventId": 2, "Id": "a"}, {"EventId": 3, "Id": "b"})
    assert first_history_error(expected, same) is None
    assert first_history_error(expected, other) == (
        "event 3 (None): Id: ${ID1} was bound to 'a', got 'b'"
    )


def test_bound_placeholders_fill_longer_strings():
    expected = [{"EventId": 2, "Id": "${ID1}"}, {"EventId": 3, "Name": "child-${ID1}"}]
    assert (
        first_history_error(
            expected, history({"EventId": 2, "Id": "7"}, {"EventId": 3, "Name": "child-7"})
        )
        is None
    )
    assert "expected 'child-7'" in str(
        first_history_error(
            expected, history({"EventId": 2, "Id": "7"}, {"EventId": 3, "Name": "child-8"})
        )
    )


def test_events_are_found_by_event_id_and_extra_events_are_ignored():
    actual = history(
        STEP, {"EventType": "StepSucceeded", "EventId": 3}, {"EventType": "X", "EventId": 4}
    )
    assert first_history_error([{**STEP}], actual) is None
    assert first_history_error([{"EventId": 9, "EventType": "Wait"}], actual) == (
        "event 9 (Wait): missing (history ends at 4)"
    )
    assert (
        first_history_error([{"EventId": 3, "EventType": "StepFailed"}], actual)
        == "event 3 (StepFailed): EventType: expected 'StepFailed', got 'StepSucceeded'"
    )


@pytest.mark.parametrize(
    ("expected", "status", "result", "error"),
    [
        ({"ExecutionStatus": "SUCCEEDED"}, "SUCCEEDED", '"anything"', None),
        (
            {"ExecutionStatus": "SUCCEEDED"},
            "FAILED",
            None,
            "status: expected SUCCEEDED, got FAILED",
        ),
        ({"ExecutionStatus": "SUCCEEDED", "Result": None}, "SUCCEEDED", None, None),
        ({"ExecutionStatus": "SUCCEEDED", "Result": None}, "SUCCEEDED", "null", None),
        ({"ExecutionStatus": "SUCCEEDED", "Result": "hi"}, "SUCCEEDED", '"hi"', None),
        (
            {"ExecutionStatus": "SUCCEEDED", "Result": "hi"},
            "SUCCEEDED",
            '"ho"',
            "Result: expected 'hi'",
        ),
        ({"ExecutionStatus": "SUCCEEDED", "Result": {"a": 2}}, "SUCCEEDED", '{"a": 2}', None),
        ({"ExecutionStatus": "FAILED", "Result": "ignored"}, "FAILED", None, None),
    ],
)
def test_expected_result_is_compared_after_one_json_loads(expected, status, result, error):
    found = first_result_error(expected, status, result)
    assert (found is None) if error is None else (error in str(found))


def test_variables_are_fresh_and_bound_everywhere():
    assert len(generate("${GEN_STR:8}")) == 8
    assert generate("${GEN_STR:8}") != generate("${GEN_STR:8}")
    bound = substitute({"a": ["${X}", "say ${X}"], "b": "${OTHER}"}, {"X": "v"})
    assert bound == {"a": ["v", "say v"], "b": "${OTHER}"}


def test_a_requirement_binds_its_variables_into_input_and_expectations():
    spec = load("1-17")
    value = spec.variables["INPUT_1"]
    assert spec.input == value and len(value) == 8
    assert spec.expected_logs[0]["match"]["message"] == f"/{value}/"
    assert load("1-17").variables["INPUT_1"] != value
    assert spec.suite == "step" and spec.expected_result == {"ExecutionStatus": "FAILED"}


def test_expected_logs_count_and_order():
    records = [{"message": m} for m in ("start A", "middle", "end A")]
    assert first_logs_error([{"match": {"message": "/A/"}, "count": 2}], records) is None
    assert "expected 1 record(s), got 2" in str(
        first_logs_error([{"match": {"message": "/A/"}, "count": 1}], records)
    )
    assert first_logs_error([{"match": {"message": "/ERROR/"}, "count": 0}], records) is None
    assert first_logs_error([{"match": {"message": "middle"}}], records) is None
    assert "at least 1" in str(first_logs_error([{"match": {"message": "nothing"}}], records))
    after = [{"match": {"message": "/end/"}, "count": 1, "after": [{"message": "/start/"}]}]
    assert first_logs_error(after, records) is None
    before = [{"match": {"message": "/end/"}, "count": 1, "before": [{"message": "/start/"}]}]
    assert "out of order" in str(first_logs_error(before, records))
    unanchored = [{"match": {"message": "/end/"}, "after": {"message": "never"}}]
    assert "matches no record" in str(first_logs_error(unanchored, records))
    # entries are independent: listing them in another order asserts no order
    assert first_logs_error([{"match": {"message": "/end/"}}, {"match": {"message": "/start/"}}], records) is None


def test_expected_logs_values_bindings_and_min_count():
    records = [
        {"plugin": "P", "hook": "op", "op": "abc", "n": 1, "first": True},
        {"plugin": "P", "hook": "op", "op": "abc", "n": 2, "first": False},
    ]
    assert first_logs_error([{"match": {"op": "${ID1}"}, "count": 2}], records, {"ID1": "abc"}) is None
    assert "expected 2" in str(first_logs_error([{"match": {"op": "${ID1}"}, "count": 2}], records, {"ID1": "x"}))
    assert first_logs_error([{"match": {"first": True}, "count": 1}], records) is None
    assert first_logs_error([{"match": {"n": 1}, "count": 1}], records) is None  # not True == 1
    assert first_logs_error([{"match": {"hook": "op"}, "min_count": 2}], records) is None
    assert "at least 3" in str(first_logs_error([{"match": {"hook": "op"}, "min_count": 3}], records))
    assert "at most 1" in str(first_logs_error([{"match": {"hook": "op"}, "max_count": 1}], records))


def test_logs_of_concurrent_executions_are_kept_apart_by_execution_arn(tmp_path):
    book = LogBook()
    logger = logging.getLogger("conformance-test")
    logger.addHandler(book)
    logger.setLevel(logging.INFO)
    try:
        threads = [
            threading.Thread(
                target=lambda n=n: logger.info(
                    "hello %s", n, extra={"executionArn": f"arn-{n % 2}"}
                )
            )
            for n in range(10)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        logger.info("no execution")
    finally:
        logger.removeHandler(book)
    assert sorted(r["message"] for r in book.records("arn-0")) == [
        f"hello {n}" for n in (0, 2, 4, 6, 8)
    ]
    assert len(book.records("arn-1")) == 5

    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    install_json_lines(stream)
    handler = root.handlers[-1]
    try:
        root.info("in json", extra={"executionArn": "arn-9", "operationId": "op"})
        root.info("not an execution's")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    path = tmp_path / "stderr.log"
    path.write_text("a traceback line\n" + stream.getvalue() + "{not json\n")
    records = read_json_lines(path).records("arn-9")
    assert isinstance(records[0].pop("time"), float)
    assert records == [
        {
            "level": "INFO",
            "logger": "root",
            "message": "in json",
            "executionArn": "arn-9",
            "operationId": "op",
        }
    ]


def test_waivers_look_past_exactly_their_omission():
    expected = [
        {"EventId": 2, "EventType": "StepStarted"},
        {"EventId": 3, "EventType": "InvocationCompleted", "InvocationCompletedDetails": {}},
        {"EventId": 4, "EventType": "StepFailed"},
    ]
    dex = history(
        {"EventId": 2, "EventType": "StepStarted"},
        {"EventId": 3, "EventType": "StepFailed"},
        {"EventId": 4, "EventType": "InvocationCompleted"},
    )
    details = waiver(("invocation-details",))
    assert first_history_error(*details(expected, dex)) == (
        "event 3 (InvocationCompleted): EventType: expected 'InvocationCompleted', got 'StepFailed'"
    )
    assert first_history_error(*waiver(("failed-invocations",))(expected, dex)) is None
    assert set(name for names in EMULATOR_LIMITATIONS.values() for name in names) <= set(OMISSIONS)


def test_callback_actions_go_to_the_named_callbacks_in_turn():
    events = history(
        {
            "EventId": 2,
            "EventType": "CallbackStarted",
            "Name": "b",
            "CallbackStartedDetails": {"CallbackId": "cb-b"},
        },
        {
            "EventId": 3,
            "EventType": "CallbackStarted",
            "Name": "a",
            "CallbackStartedDetails": {"CallbackId": "cb-a"},
        },
    )
    sent: list[tuple[str, str]] = []
    done = threading.Event()

    def send(callback_id: str, action: dict) -> None:
        sent.append((callback_id, action["Operation"]))
        if len(sent) == 3:
            done.set()

    actions = [
        {"CallbackName": "a", "Operation": "heartbeat", "Delay": 0},
        {"CallbackName": "*", "Operation": "success", "Payload": 1, "Delay": 0},
        {"CallbackName": "a", "Operation": "failure", "Payload": {"ErrorType": "E"}, "Delay": 0},
    ]
    with CallbackDriver(actions, lambda: events, send) as driver:
        assert done.wait(5)
    assert sent == [("cb-b", "success"), ("cb-a", "heartbeat"), ("cb-a", "failure")]
    assert driver.errors == []


def test_handlers_of_both_sdks_are_found_and_what_is_missing_says_why():
    for sdk_name in registry.SDKS:
        built = registry.built(sdk_name)
        assert {"1-1", "2-1", "3-1"} <= set(built.requirements), built.broken
        assert registry.is_durable(built.requirements["1-1"].handler, sdk_name)
        assert not registry.is_durable(lambda event, context: event, sdk_name)
    with pytest.raises(LookupError, match=r"no handlers/nothing\.py yet"):
        registry.built("durable_mp").find("99-1", "nothing")
    with pytest.raises(LookupError, match="has no handler for 1-99"):
        registry.built("durable_mp").find("1-99", "step")


class Canned:
    """A target that 'observes' a prepared history."""

    name = "canned"
    sdk = "durable_mp"

    def __init__(self, seen: Observation) -> None:
        self.seen = seen

    def observe(self, spec, requirement) -> Observation:
        return self.seen


def test_run_requirement_reports_the_first_mismatch_in_one_normalized_line():
    spec = load("2-1")
    good = history(
        {
            "EventType": "WaitStarted",
            "SubType": "Wait",
            "EventId": 2,
            "Id": "w",
            "EventTimestamp": "t",
            "WaitStartedDetails": {"Duration": 2},
        },
        {
            "EventType": "InvocationCompleted",
            "EventId": 3,
            "EventTimestamp": "t",
            "InvocationCompletedDetails": {},
        },
        {
            "EventType": "WaitSucceeded",
            "SubType": "Wait",
            "EventId": 4,
            "Id": "w",
            "EventTimestamp": "t",
            "WaitSucceededDetails": {"Duration": 2},
        },
        {
            "EventType": "InvocationCompleted",
            "EventId": 5,
            "EventTimestamp": "t",
            "InvocationCompletedDetails": {},
        },
    )
    passed = run_requirement(
        spec.path, Canned(Observation(arn="a", status="SUCCEEDED", history=good))
    )
    assert passed.passed and passed.first_error is None
    wrong = json.loads(json.dumps(good))
    wrong[3]["Id"] = "other"
    failed = run_requirement(
        spec.path, Canned(Observation(arn="a", status="SUCCEEDED", history=wrong))
    )
    assert failed.first_error == "event 4 (WaitSucceeded): Id: ${ID1} was bound to 'w', got 'other'"
    late = run_requirement(spec.path, Canned(Observation(arn="a", status="FAILED", history=good)))
    assert late.first_error == "status: expected SUCCEEDED, got FAILED"


def test_errors_name_variables_not_their_random_values():
    spec = load("3-1")
    value = spec.variables["INPUT_1"]
    arn = "arn:aws:lambda:us-west-2:123456789012:function:req-3-1:$LATEST/durable-execution/x/y"
    assert normalize(f"got '{value}x' from {arn}", spec) == "got '${INPUT_1}x' from <arn>"
