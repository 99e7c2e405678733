"""Function identifiers, ``NAME=TARGET`` arguments and Lambda's error wording."""

from __future__ import annotations

import json
import signal

import pytest

from durable_mp.sandbox import lambda_errors
from durable_mp.serve.functions import Entry, parse_entry, resolve

ARN = "arn:aws:lambda:eu-west-1:111122223333:function:"


@pytest.mark.parametrize(
    ("identifier", "qualifier", "name", "version", "arn"),
    [
        ("fn", None, "fn", "$LATEST", "arn:aws:lambda:us-west-2:123456789012:function:fn"),
        ("fn:$LATEST", None, "fn", "$LATEST",
         "arn:aws:lambda:us-west-2:123456789012:function:fn:$LATEST"),
        ("fn", "7", "fn", "7", "arn:aws:lambda:us-west-2:123456789012:function:fn:7"),
        ("fn:live", "live", "fn", "$LATEST",
         "arn:aws:lambda:us-west-2:123456789012:function:fn:live"),
        (ARN + "fn", None, "fn", "$LATEST", ARN + "fn"),
        (ARN + "fn:3", None, "fn", "3", ARN + "fn:3"),
        ("111122223333:function:fn", None, "fn", "$LATEST",
         "arn:aws:lambda:us-west-2:111122223333:function:fn"),
    ],
)
def test_identifiers_resolve_to_the_registered_name(
    monkeypatch, identifier, qualifier, name, version, arn
):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    invoked = resolve(identifier, qualifier)
    assert invoked is not None
    assert (invoked.name, invoked.version, invoked.arn) == (name, version, arn)


@pytest.mark.parametrize("identifier", ["a:b:c", "bad name", ARN + "fn:1:2", "fn:1"])
def test_malformed_or_contradictory_identifiers_resolve_to_nothing(identifier):
    assert resolve(identifier, "2") is None


def test_entries():
    assert parse_entry("app.py:handler") == Entry(None, "app.py:handler")
    assert parse_entry("pay=app.py:handler").as_argument() == "pay=app.py:handler"
    with pytest.raises(ValueError, match="not a function name"):
        parse_entry("no way=app.py:handler")
    with pytest.raises(ValueError, match="names no target"):
        parse_entry("pay=")


@pytest.mark.parametrize(
    ("returncode", "text"),
    [
        (1, "exit status 1"),
        (-signal.SIGKILL, "signal: killed"),
        (-signal.SIGSEGV, "signal: segmentation fault"),
        (-signal.SIGABRT, "signal: aborted"),
    ],
)
def test_exit_status_is_worded_like_lambda(returncode, text):
    assert lambda_errors.exit_status(returncode) == text
    reply = lambda_errors.runtime_exited("req-1", returncode)
    assert reply.function_error == "Unhandled"
    assert json.loads(reply.payload) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: req-1 Error: Runtime exited with error: {text}",
    }
