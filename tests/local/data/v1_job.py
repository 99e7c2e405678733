"""The job of the version-1 store fixture (``store_v1.db``): made by durable-mp before
stores were marked (commit 3c7cff1), read and resumed by today's code in
``tests/local/test_local_schema.py``. ``make_store_v1.py`` rebuilds the fixture."""

import os

from durable_mp import durable_execution


@durable_execution(step_executor="inline")
def handler(event, ctx):
    first = ctx.step(lambda _: event["n"] + 1, name="first")
    second = ctx.step(lambda _: _second(first), name="second")
    return ctx.step(lambda _: first + second, name="third")


def _second(first):
    if os.environ.get("V1_CRASH_IN_SECOND"):
        os._exit(9)  # the runner dies in the middle of the second step
    return first * 10
