"""Every exception durable-mp raises can cross a worker pipe intact.

Exceptions travel both ways: a step body's error to the parent, and the parent's answer to
a nested wait (``SuspendExecution``, ``OrphanedChildException``, ...) to the worker. An
exception whose ``__init__`` takes other arguments than ``args`` does not unpickle unless
it says how.
"""

from __future__ import annotations

import inspect

import cloudpickle
import pytest

from durable_mp import exceptions

CLASSES = sorted(
    (
        cls
        for _, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == exceptions.__name__
    ),
    key=lambda cls: cls.__name__,
)


def _instance(cls: type[BaseException]) -> BaseException:
    try:
        signature = inspect.signature(cls)
    except ValueError:  # BaseException's own __init__: any arguments
        return cls("what happened")
    parameters = [
        p
        for p in signature.parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    values = {p.name: f"value of {p.name}" for p in parameters}
    positional = [values.pop(p.name) for p in parameters if p.kind is not p.KEYWORD_ONLY]
    return cls(*positional, **values)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_exception_survives_a_pickle_round_trip(cls: type[BaseException]) -> None:
    original = _instance(cls)
    copy = cloudpickle.loads(cloudpickle.dumps(original))
    assert type(copy) is cls
    assert str(copy) == str(original)
    assert {k: str(v) for k, v in vars(copy).items()} == {
        k: str(v) for k, v in vars(original).items()
    }
