from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest

from durable_mp.exceptions import SuspendExecution, WorkerPoolError
from durable_mp.workers import WorkerPool, request_from_parent, send_to_parent

from .helpers import run

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("both_readers")]


def chatter(count: int) -> str:
    for i in range(count):
        send_to_parent({"progress": i})
    return "done"


def ask(body: Any) -> Any:
    return request_from_parent(body)


def ask_twice_from_threads() -> list[Any]:
    answers: list[Any] = [None, None]

    def worker(i: int) -> None:
        answers[i] = request_from_parent(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def ask_and_catch(body: Any) -> str:
    try:
        request_from_parent(body)
    except ValueError as exc:
        return f"caught {exc}"
    return "no error"


def later(seconds: float, fn: Callable[..., None], *args: Any) -> None:
    threading.Timer(seconds, fn, args).start()


def test_messages_reach_on_message_before_the_result(pool: WorkerPool, both_readers: str) -> None:
    seen: list[Any] = []
    threads: set[str] = set()

    def on_message(body: Any) -> None:
        seen.append(body)
        threads.add(threading.current_thread().name)

    result = run(pool, chatter, 5, on_message=on_message)
    assert result.value == "done"
    assert seen == [{"progress": i} for i in range(5)]
    # run(): on the caller's thread, which reads the worker; submit(): on the pool thread
    reader = threading.current_thread().name if both_readers == "run" else "durable-mp-pool"
    assert threads == {reader}


def test_reply_sent_later_from_another_thread(pool: WorkerPool) -> None:
    def on_request(body: Any, reply: Callable[[Any], None]) -> None:
        later(0.2, reply, body * 2)

    assert run(pool, ask, 21, on_request=on_request).value == 42


def test_reply_sent_at_once_from_the_handler(pool: WorkerPool) -> None:
    result = run(pool, ask, "ping", on_request=lambda body, reply: reply(body + "/pong"))
    assert result.value == "ping/pong"


def test_concurrent_requests_from_threads_of_one_job(pool: WorkerPool) -> None:
    def on_request(body: Any, reply: Callable[[Any], None]) -> None:
        later(0.3 if body == 0 else 0.05, reply, f"answer {body}")

    assert run(pool, ask_twice_from_threads, on_request=on_request).value == [
        "answer 0",
        "answer 1",
    ]


def test_exception_reply_is_raised_in_the_worker(pool: WorkerPool) -> None:
    def on_request(body: Any, reply: Callable[[Any], None]) -> None:
        later(0.05, reply, ValueError("nope"))

    assert run(pool, ask_and_catch, 1, on_request=on_request).value == "caught nope"


def test_base_exception_reply_is_raised_as_is(pool: WorkerPool) -> None:
    def on_request(body: Any, reply: Callable[[Any], None]) -> None:
        reply(SuspendExecution("suspended while waiting"))

    result = run(pool, ask, 1, on_request=on_request)
    assert isinstance(result.error, SuspendExecution)
    assert str(result.error) == "suspended while waiting"


def test_handler_that_raises_answers_with_its_error(pool: WorkerPool) -> None:
    def on_request(body: Any, reply: Callable[[Any], None]) -> None:
        raise KeyError("no such thing")

    result = run(pool, ask, 1, on_request=on_request)
    assert isinstance(result.error, KeyError)


def test_request_without_a_handler_fails_in_the_worker(pool: WorkerPool) -> None:
    result = run(pool, ask, 1, label="step 'lonely' (operation 5)")
    assert isinstance(result.error, WorkerPoolError)
    assert "step 'lonely' (operation 5) sent a request" in str(result.error)


def test_only_the_first_reply_counts(pool: WorkerPool) -> None:
    def on_request(body: Any, reply: Callable[[Any], None]) -> None:
        reply("first")
        reply("second")

    assert run(pool, ask, 1, on_request=on_request).value == "first"


def test_channel_functions_outside_a_worker() -> None:
    with pytest.raises(RuntimeError, match="only works inside a step body"):
        send_to_parent("x")
    with pytest.raises(RuntimeError, match="only works inside a step body"):
        request_from_parent("x")
