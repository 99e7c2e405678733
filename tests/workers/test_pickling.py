"""The pool's pickler gives cloudpickle's answer: by reference what a worker can import,
by value what it cannot -- the fast path never sends by reference what cloudpickle would
send by value."""

from __future__ import annotations

import functools
import pickle
import sys
import types
from typing import Any

import cloudpickle
import pytest

from durable_mp.workers import pickling

from . import byvalue_errors

PROTOCOL = pickle.HIGHEST_PROTOCOL


def module_level(value: int) -> int:
    return value + 1


class Plain:
    def __init__(self, value: int) -> None:
        self.value = value


@pytest.mark.parametrize(
    "value",
    [
        "text",
        b"bytes",
        42,
        None,
        (module_level, (1,)),
        functools.partial(module_level, 2),
        {"nested": [Plain(3), (1.5, True)]},
        ValueError("an error"),
    ],
    ids=["str", "bytes", "int", "none", "call", "partial", "objects", "exception"],
)
def test_what_a_worker_can_import_goes_by_reference_as_with_the_standard_pickler(
    value: Any,
) -> None:
    assert pickling.dumps(value) == pickle.dumps(value, PROTOCOL)


def test_lambdas_and_local_functions_go_by_value() -> None:
    offset = 3

    def local(x: int) -> int:
        return x + offset

    for function in (lambda x: x * 2, local):
        blob = pickling.dumps((function, (4,)))
        assert blob == cloudpickle.dumps((function, (4,)), PROTOCOL)
        loaded, args = pickle.loads(blob)
        assert loaded(*args) == function(*args)


def test_a_function_of_main_goes_by_value_even_where_the_standard_pickler_finds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec("def in_main(x):\n    return x - 1\n", namespace)
    in_main = namespace["in_main"]
    monkeypatch.setattr(sys.modules["__main__"], "in_main", in_main, raising=False)
    assert pickle.dumps(in_main, PROTOCOL)  # by reference: a worker could not load it
    blob = pickling.dumps(in_main)
    assert blob == cloudpickle.dumps(in_main, PROTOCOL) != pickle.dumps(in_main, PROTOCOL)


def test_a_module_registered_by_value_goes_by_value() -> None:
    call = (byvalue_errors.fail, ("x",))
    by_reference = pickle.dumps(call, PROTOCOL)
    assert pickling.dumps(call) == by_reference
    cloudpickle.register_pickle_by_value(byvalue_errors)
    try:
        blob = pickling.dumps(call)
        instance = pickling.dumps(byvalue_errors.ByValueError("boom"))
    finally:
        cloudpickle.unregister_pickle_by_value(byvalue_errors)
    assert blob != by_reference
    assert b"_make_function" in blob and b"_make_skeleton_class" in instance


def test_a_submodule_of_a_package_registered_by_value_goes_by_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    package = types.ModuleType("durable_mp_probe_package")
    package.__path__ = []
    sub = types.ModuleType("durable_mp_probe_package.sub")
    exec("def f():\n    return 'sub'\n", sub.__dict__)
    sub.f.__module__ = sub.__name__
    monkeypatch.setitem(sys.modules, package.__name__, package)
    monkeypatch.setitem(sys.modules, sub.__name__, sub)
    assert pickling.dumps(sub.f) == pickle.dumps(sub.f, PROTOCOL)
    cloudpickle.register_pickle_by_value(package)
    try:
        blob = pickling.dumps(sub.f)
    finally:
        cloudpickle.unregister_pickle_by_value(package)
    assert blob != pickle.dumps(sub.f, PROTOCOL)
    assert pickle.loads(blob)() == "sub"
