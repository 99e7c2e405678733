"""Plugin suite (10-x): instrumentation plugins that print one JSON record per hook.

Every requirement registers factories of :class:`Probe` plugins, built on the SDK's own
``DurableInstrumentationPlugin``. A probe is a table: hook name -> a function of the
hook's info that returns the record to print (or None to stay quiet); the plugin adds
its name and the execution ARN it captured at invocation start, and prints the record to
stdout (:mod:`tests.conformance.plugin_records`). 10-17's faulty probe prints and then
raises in every hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.conformance.plugin_records import emit
from tests.conformance.sdk import Requirement

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import SimpleNamespace

    Recipe = dict[str, Callable[[Any], dict[str, Any] | None]]

HOOKS = {
    "on_invocation_start": "invocation-start",
    "on_invocation_end": "invocation-end",
    "on_operation_start": "operation-start",
    "on_operation_end": "operation-end",
    "on_operation_change": "operation-change",
    "on_user_function_start": "attempt-start",
    "on_user_function_end": "attempt-end",
}


def build(sdk: SimpleNamespace) -> dict[str, Requirement]:
    return {
        "10-1": _invocation_lifecycle(sdk),
        "10-2": _greeting(sdk, {"operation-start": _op(step=True), "operation-end": _op_end()}),
        "10-3": _retried_step(sdk),
        "10-5": _two_plugins(sdk),
        "10-6": _wait(sdk, _first_and_status()),
        "10-7": _failing_step(sdk, _first_and_status()),
        "10-8": Requirement(_durable(sdk, _greet_handler(sdk), _change_probe(sdk))),
        "10-10": _wait(sdk, _wait_ops()),
        "10-11": _child_step(sdk),
        "10-12": _parallel_branches(sdk),
        "10-13": _replay_flags(sdk),
        "10-15": _exhausted(sdk),
        "10-16": _wait(sdk, _suspension_ends()),
        "10-17": _faulty_and_healthy(sdk),
        "10-18": _pending_wait_replay(sdk),
        "10-20": _operation_shape(sdk),
        "10-21": _attempt_shape(sdk),
        "10-23": _context_shape(sdk),
    }


# -- the probe plugin ------------------------------------------------------------------


def probe_factory(sdk: SimpleNamespace, name: str, recipe: Recipe, *, faulty: bool = False) -> Any:
    """A factory whose plugins print ``recipe``'s records as plugin ``name``."""

    class Probe(sdk.DurableInstrumentationPlugin):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self.arn: str | None = None

        def _record(self, hook: str, info: Any) -> None:
            label = HOOKS[hook]
            if hook == "on_invocation_start":
                self.arn = info.execution_arn
            if faulty:
                emit({"plugin": name, "hook": label}, self.arn)
                raise RuntimeError(f"{name} fails in {hook} on purpose")
            make = recipe.get(label)
            record = make(info) if make is not None else None
            if record is not None:
                emit({"plugin": name, "hook": label, **record}, self.arn)

    for hook in HOOKS:
        setattr(Probe, hook, lambda self, info, hook=hook: self._record(hook, info))

    class ProbeFactory:
        def create_plugin(self, info: Any) -> Any:
            return Probe()

    return ProbeFactory()


def _token(value: Any) -> str:
    return str(getattr(value, "value", value)).upper()


def _is(info: Any, kind: str) -> bool:
    return _token(info.operation_type) == kind


def _first_and_status() -> Recipe:
    return {
        "invocation-start": lambda info: {"first": info.is_first_invocation},
        "invocation-end": lambda info: {"status": _token(info.status)},
    }


def _op(step: bool = False) -> Callable[[Any], dict[str, Any] | None]:
    return lambda info: {"op": info.operation_id} if not step or _is(info, "STEP") else None


def _op_end() -> Callable[[Any], dict[str, Any] | None]:
    return lambda info: (
        {"op": info.operation_id, "status": _token(info.status)} if _is(info, "STEP") else None
    )


def _attempts(with_op: bool) -> Recipe:
    def start(info: Any) -> dict[str, Any] | None:
        if not _is(info, "STEP"):
            return None
        return {"n": info.attempt, **({"op": info.operation_id} if with_op else {})}

    def end(info: Any) -> dict[str, Any] | None:
        if not _is(info, "STEP"):
            return None
        return {
            "n": info.attempt,
            "outcome": _token(info.outcome),
            **({"op": info.operation_id} if with_op else {}),
        }

    return {"attempt-start": start, "attempt-end": end}


def _wait_ops() -> Recipe:
    def start(info: Any) -> dict[str, Any] | None:
        return {"op": info.operation_id, "type": "WAIT"} if _is(info, "WAIT") else None

    def end(info: Any) -> dict[str, Any] | None:
        if not _is(info, "WAIT"):
            return None
        return {"op": info.operation_id, "type": "WAIT", "status": _token(info.status)}

    return {"operation-start": start, "operation-end": end}


def _suspension_ends() -> Recipe:
    state: dict[str, bool] = {}

    def start(info: Any) -> dict[str, Any]:
        state["first"] = info.is_first_invocation
        return {"first": info.is_first_invocation}

    def end(info: Any) -> dict[str, Any]:
        status = _token(info.status)
        first = getattr(info, "is_first_invocation", state.get("first"))
        return {"first": first, "terminal": status in ("SUCCEEDED", "FAILED"), "status": status}

    return {"invocation-start": start, "invocation-end": end}


def canonical(info: Any) -> dict[str, Any]:
    """The camelCase dump of an info (10-20, 10-21, 10-23): unset fields left out."""
    fields = {
        "id": info.operation_id,
        "name": getattr(info, "name", None),
        "type": _token(info.operation_type),
        "subType": getattr(info, "sub_type", None),
        "parentId": getattr(info, "parent_id", None),
        "status": _token(info.status) if getattr(info, "status", None) is not None else None,
        "startTimestamp": _iso(getattr(info, "start_time", None)),
        "endTimestamp": _iso(getattr(info, "end_time", None)),
        "error": getattr(getattr(info, "error", None), "message", None),
        "attempt": getattr(info, "attempt", None),
        "isReplay": getattr(info, "is_replayed", None),
        "isReplayingChildren": getattr(info, "is_replay_children", None),
        "outcome": _token(info.outcome) if getattr(info, "outcome", None) is not None else None,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


# -- handlers ----------------------------------------------------------------------------


def _retry(sdk: SimpleNamespace, attempts: int) -> Any:
    return sdk.StepConfig(
        retry_strategy=sdk.create_retry_strategy(
            sdk.RetryStrategyConfig(
                max_attempts=attempts,
                initial_delay=sdk.Duration.from_seconds(1),
                backoff_rate=1.0,
                jitter_strategy=sdk.JitterStrategy.NONE,
            )
        )
    )


def _durable(sdk: SimpleNamespace, handler: Any, *factories: Any) -> Any:
    return sdk.durable_execution(plugins=list(factories))(handler)


def _greet_handler(sdk: SimpleNamespace, log: bool = False) -> Any:
    @sdk.durable_step
    def greet(step_ctx: Any, who: str) -> str:
        if log:
            step_ctx.logger.info(f"Greeting step running for: {who}")
        return f"Hello, {who}!"

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(greet(event))

    return handler


def _invocation_lifecycle(sdk: SimpleNamespace) -> Requirement:
    """10-1: invocation start (first) and end (status) around a logging step."""
    handler = _greet_handler(sdk, log=True)
    return Requirement(_durable(sdk, handler, probe_factory(sdk, "CONFPLUGIN", _first_and_status())))


def _greeting(sdk: SimpleNamespace, recipe: Recipe) -> Requirement:
    """10-2: one greeting step, probed by ``recipe``."""
    factory = probe_factory(sdk, "CONFPLUGIN", recipe)
    return Requirement(_durable(sdk, _greet_handler(sdk), factory))


def _change_probe(sdk: SimpleNamespace) -> Any:
    """10-8: one record per step-type operation of each change's delta."""

    class ChangeProbe(sdk.DurableInstrumentationPlugin):  # type: ignore[misc,name-defined]
        arn: str | None = None

        def on_invocation_start(self, info: Any) -> None:
            self.arn = info.execution_arn

        def on_operation_change(self, info: Any) -> None:
            for op_id, op in info.updated_operations.items():
                if _is(op, "STEP"):
                    record = {
                        "plugin": "CONFPLUGIN",
                        "hook": "operation-change",
                        "op": op_id,
                        "status": _token(op.status),
                        "in_full_map": op_id in info.operations,
                    }
                    emit(record, self.arn)

    class Factory:
        def create_plugin(self, info: Any) -> Any:
            return ChangeProbe()

    return Factory()


def _flaky(sdk: SimpleNamespace, result: str) -> Any:
    @sdk.durable_step
    def unreliable(step_ctx: Any) -> str:
        if step_ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return result

    return unreliable


def _retried_step(sdk: SimpleNamespace) -> Requirement:
    """10-3: a step that fails once, then succeeds; attempt hooks."""
    unreliable = _flaky(sdk, "Operation succeeded")

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(unreliable(), config=_retry(sdk, 3))

    recipe = _attempts(with_op=True)
    return Requirement(_durable(sdk, handler, probe_factory(sdk, "CONFPLUGIN", recipe)))


def _two_plugins(sdk: SimpleNamespace) -> Requirement:
    """10-5: plugins A and B both see the invocation hooks."""
    recipe: Recipe = {
        "invocation-start": lambda info: {},
        "invocation-end": lambda info: {"status": _token(info.status)},
    }
    factories = [probe_factory(sdk, f"CONFPLUGIN-{name}", recipe) for name in "AB"]
    return Requirement(_durable(sdk, _greet_handler(sdk), *factories))


def _wait(sdk: SimpleNamespace, recipe: Recipe) -> Requirement:
    """10-6, 10-10, 10-16: one 2-second wait."""

    def handler(event: Any, ctx: Any) -> Any:
        ctx.wait(sdk.Duration.from_seconds(2))

    return Requirement(_durable(sdk, handler, probe_factory(sdk, "CONFPLUGIN", recipe)))


def _failing_step(sdk: SimpleNamespace, recipe: Recipe) -> Requirement:
    """10-7: a step that always fails, without retries."""

    @sdk.durable_step
    def failing(step_ctx: Any) -> str:
        raise RuntimeError("this step always fails")

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(failing(), config=sdk.StepConfig(retry_strategy=sdk.RetryPresets.none()))

    return Requirement(_durable(sdk, handler, probe_factory(sdk, "CONFPLUGIN", recipe)))


def _child_step(sdk: SimpleNamespace) -> Requirement:
    """10-11: a child context with one greeting step; every operation's end and parent."""

    @sdk.durable_step
    def greet(step_ctx: Any, who: str) -> str:
        return f"Hello, {who}!"

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(lambda child: child.step(greet(event)))

    recipe: Recipe = {
        "operation-end": lambda info: {
            "op": info.operation_id,
            "parent": info.parent_id or "NONE",
            "status": _token(info.status),
        }
    }
    return Requirement(_durable(sdk, handler, probe_factory(sdk, "CONFPLUGIN", recipe)))


def _parallel_branches(sdk: SimpleNamespace) -> Requirement:
    """10-12: branch functions' user-function hooks, with their parent."""

    def branch(value: str) -> Any:
        return lambda ctx: value

    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.ParallelConfig(max_concurrency=1)
        return ctx.parallel(
            [branch("task-1"), branch("task-2")], name="parallel", config=config
        ).get_results()

    def is_branch(info: Any) -> bool:
        return info.sub_type == "ParallelBranch"

    recipe: Recipe = {
        "attempt-start": lambda info: (
            {"hook": "fn-start", "op": info.operation_id, "parent": info.parent_id or "NONE"}
            if is_branch(info)
            else None
        ),
        "attempt-end": lambda info: (
            {
                "hook": "fn-end",
                "op": info.operation_id,
                "parent": info.parent_id or "NONE",
                "outcome": _token(info.outcome),
            }
            if is_branch(info)
            else None
        ),
    }
    return Requirement(_durable(sdk, handler, probe_factory(sdk, "CONFPLUGIN", recipe)))


def _replay_flags(sdk: SimpleNamespace) -> Requirement:
    """10-13: step A succeeds, step B fails once; start replay flags and terminal ends."""

    @sdk.durable_step
    def step_a(step_ctx: Any) -> str:
        return "a"

    unreliable = _flaky(sdk, "Operation succeeded")

    def handler(event: Any, ctx: Any) -> Any:
        ctx.step(step_a())
        return ctx.step(unreliable(), config=_retry(sdk, 3))

    recipe: Recipe = {
        "operation-start": lambda info: (
            {"op": info.operation_id, "replay": info.is_replayed} if _is(info, "STEP") else None
        ),
        "operation-end": _op_end(),
    }
    return Requirement(_durable(sdk, handler, probe_factory(sdk, "CONFPLUGIN", recipe)))


def _exhausted(sdk: SimpleNamespace) -> Requirement:
    """10-15: two failing attempts, then the operation ends FAILED."""

    @sdk.durable_step
    def always_fail(step_ctx: Any) -> str:
        raise RuntimeError("always fails")

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(always_fail(), config=_retry(sdk, 2))

    recipe = {**_attempts(with_op=True), "operation-end": _op_end()}
    return Requirement(_durable(sdk, handler, probe_factory(sdk, "CONFPLUGIN", recipe)))


def _faulty_and_healthy(sdk: SimpleNamespace) -> Requirement:
    """10-17: a plugin that raises in every hook does not keep the next one from its hooks."""
    steps_only = _op(step=True)
    recipe: Recipe = {
        "invocation-start": lambda info: {"first": info.is_first_invocation},
        "operation-start": steps_only,
        "attempt-start": steps_only,
        "attempt-end": lambda info: (
            {"op": info.operation_id, "outcome": _token(info.outcome)} if _is(info, "STEP") else None
        ),
        "operation-end": _op_end(),
        "invocation-end": lambda info: {"status": _token(info.status)},
    }
    faulty = probe_factory(sdk, "CONFPLUGIN-FAULTY", {}, faulty=True)
    healthy = probe_factory(sdk, "CONFPLUGIN-HEALTHY", recipe)
    return Requirement(_durable(sdk, _greet_handler(sdk), faulty, healthy))


def _pending_wait_replay(sdk: SimpleNamespace) -> Requirement:
    """10-18: a wait still pending on replay starts again with replay=true, pending=true."""

    def waiting(name: str, seconds: int, result: str) -> Any:
        def branch(ctx: Any) -> str:
            ctx.wait(sdk.Duration.from_seconds(seconds), name=name)
            return result

        return branch

    def handler(event: Any, ctx: Any) -> Any:
        branches = [waiting("short", 2, "short-done"), waiting("long", 8, "long-done")]
        config = sdk.ParallelConfig(max_concurrency=2)
        return ctx.parallel(branches, name="waits", config=config).get_results()

    def start(info: Any) -> dict[str, Any] | None:
        if not _is(info, "WAIT"):
            return None
        pending = _token(info.status) not in ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED")
        return {"type": "WAIT", "name": info.name, "replay": info.is_replayed, "pending": pending}

    recipe: Recipe = {
        "operation-start": start,
        "operation-end": lambda info: (
            {"type": "WAIT", "name": info.name, "status": _token(info.status)}
            if _is(info, "WAIT")
            else None
        ),
    }
    return Requirement(_durable(sdk, handler, probe_factory(sdk, "CONFPLUGIN", recipe)))


def _operation_shape(sdk: SimpleNamespace) -> Requirement:
    """10-20: canonical dumps of a named step's operation-start and -end infos."""

    @sdk.durable_step
    def greet(step_ctx: Any) -> str:
        return "task-a"

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(greet(), name="greet")

    dump = lambda info: canonical(info) if _is(info, "STEP") else None  # noqa: E731
    recipe: Recipe = {"operation-start": dump, "operation-end": dump}
    return Requirement(_durable(sdk, handler, probe_factory(sdk, "CONFPLUGIN", recipe)))


def _attempt_shape(sdk: SimpleNamespace) -> Requirement:
    """10-21: canonical dumps of a retried step's attempt infos."""
    unreliable = _flaky(sdk, "ok")

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(unreliable(), name="flaky", config=_retry(sdk, 3))

    dump = lambda info: canonical(info) if _is(info, "STEP") else None  # noqa: E731
    recipe: Recipe = {"attempt-start": dump, "attempt-end": dump}
    return Requirement(_durable(sdk, handler, probe_factory(sdk, "CONFPLUGIN", recipe)))


def _context_shape(sdk: SimpleNamespace) -> Requirement:
    """10-23: context-typed operation and user-function infos of a parallel's branches."""

    @sdk.durable_step
    def inner(step_ctx: Any) -> str:
        return "x"

    def branch_a(ctx: Any) -> str:
        ctx.step(inner(), name="inner")
        ctx.wait(sdk.Duration.from_seconds(2))
        return "a-done"

    def handler(event: Any, ctx: Any) -> Any:
        branches = [
            sdk.ParallelBranch(func=branch_a, name="branch-a"),
            sdk.ParallelBranch(func=lambda ctx: "b-done", name="branch-b"),
        ]
        config = sdk.ParallelConfig(max_concurrency=1)
        return ctx.parallel(branches, name="ctx", config=config).get_results()

    dump = lambda info: canonical(info) if _is(info, "CONTEXT") else None  # noqa: E731
    recipe: Recipe = {
        "operation-start": dump,
        "attempt-start": lambda info: (
            {"hook": "fn-start", **canonical(info)} if _is(info, "CONTEXT") else None
        ),
    }
    return Requirement(_durable(sdk, handler, probe_factory(sdk, "CONFPLUGIN", recipe)))
