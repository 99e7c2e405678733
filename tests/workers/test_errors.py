from __future__ import annotations

import sys
import textwrap
import threading
from typing import TYPE_CHECKING

import cloudpickle
import pytest

from durable_mp.exceptions import StepPicklingError, SuspendExecution
from durable_mp.workers import RemoteError, WorkerPool

from . import byvalue_errors
from .helpers import run

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("both_readers")]


class MyError(Exception):
    pass


class LockedError(Exception):
    """Cannot be pickled: it carries a lock."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


class TwoArgError(Exception):
    """Pickles, but cannot be unpickled: ``__init__`` needs two arguments, args has one."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")


def raise_my_error() -> None:
    raise MyError("mine")


def raise_locked() -> None:
    raise LockedError("cannot travel")


def raise_two_arg() -> None:
    raise TwoArgError(7, "seven")


def return_lock() -> object:
    return threading.Lock()


def raise_system_exit() -> None:
    raise SystemExit(4)


def raise_suspend() -> None:
    raise SuspendExecution("suspend me")


def test_exception_is_delivered_with_its_traceback(pool: WorkerPool) -> None:
    result = run(pool, raise_my_error)
    assert not result.ok
    assert type(result.error) is MyError
    assert str(result.error) == "mine"
    assert result.traceback is not None
    assert result.traceback[0].startswith("Traceback")
    assert any("raise_my_error" in line for line in result.traceback)
    assert not any("durable_mp/workers/worker.py" in line for line in result.traceback)


def test_base_exceptions_come_back_as_errors(pool: WorkerPool) -> None:
    result = run(pool, raise_system_exit)
    assert isinstance(result.error, SystemExit) and result.error.code == 4
    result = run(pool, raise_suspend)
    assert isinstance(result.error, SuspendExecution)
    assert run(pool, len, "abc").value == 3  # the worker survived both


def test_unpicklable_return_value(pool: WorkerPool) -> None:
    result = run(pool, return_lock, label="step 'x' (operation 9)")
    assert isinstance(result.error, StepPicklingError)
    message = str(result.error)
    assert message.startswith("step 'x' (operation 9) returned a value of type _thread.lock")
    assert "cannot be sent back from the worker process (" in message
    assert message.endswith("return plain data, or run the step with executor='thread'")


def test_unpicklable_exception_becomes_remote_error(pool: WorkerPool) -> None:
    result = run(pool, raise_locked)
    error = result.error
    assert isinstance(error, RemoteError)
    assert error.remote_type == f"{__name__}.LockedError"
    assert error.message == "cannot travel" == str(error)
    assert error.traceback and any("raise_locked" in line for line in error.traceback)
    assert error.reason and "could not be pickled in the worker" in error.reason
    assert result.traceback == error.traceback
    assert cloudpickle.loads(cloudpickle.dumps(error)).remote_type == error.remote_type


def test_exception_that_cannot_be_unpickled_becomes_remote_error(pool: WorkerPool) -> None:
    error = run(pool, raise_two_arg).error
    assert isinstance(error, RemoteError)
    assert error.remote_type == f"{__name__}.TwoArgError"
    assert error.message == "7: seven"
    assert error.reason and "could not be unpickled in the parent" in error.reason


def test_payload_that_cannot_load_in_the_worker(pool: WorkerPool, tmp_path: Path) -> None:
    module = tmp_path / "only_in_parent.py"
    module.write_text("def body():\n    return 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import only_in_parent  # type: ignore[import-not-found]

        result = run(pool, only_in_parent.body, label="step 'p' (operation 2)")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("only_in_parent", None)
    assert isinstance(result.error, StepPicklingError)
    assert str(result.error).startswith(
        "the function or arguments of step 'p' (operation 2) cannot be unpickled"
    )
    assert "only_in_parent" in str(result.error)


def test_class_from_a_test_module_keeps_its_identity(pool: WorkerPool) -> None:
    error = run(pool, raise_my_error).error
    assert isinstance(error, MyError)


@pytest.fixture
def by_value() -> Iterator[None]:
    cloudpickle.register_pickle_by_value(byvalue_errors)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(byvalue_errors)


def test_class_shipped_by_value_keeps_its_identity(pool: WorkerPool, by_value: None) -> None:
    error = run(pool, byvalue_errors.fail, "by value").error
    assert isinstance(error, byvalue_errors.ByValueError)
    assert type(error) is byvalue_errors.ByValueError
    assert str(error) == "by value"


def test_class_of_a_module_the_worker_cannot_import(pool: WorkerPool, tmp_path: Path) -> None:
    # The pool started before tmp_path joined sys.path, so only by-value shipping works.
    (tmp_path / "parent_only_errors.py").write_text(
        textwrap.dedent(
            """
            class ParentOnlyError(Exception):
                pass

            def fail():
                raise ParentOnlyError("shipped")
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import parent_only_errors  # type: ignore[import-not-found]

        cloudpickle.register_pickle_by_value(parent_only_errors)
        try:
            error = run(pool, parent_only_errors.fail).error
        finally:
            cloudpickle.unregister_pickle_by_value(parent_only_errors)
        assert type(error) is parent_only_errors.ParentOnlyError
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("parent_only_errors", None)
