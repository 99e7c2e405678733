"""Handlers of the parallel conformance suite (8-x), written once for both SDKs.

Each factory builds the handler its requirement's YAML describes in prose. Branches that
"raise" raise straight from the branch function (no inner step): the expected histories
show the ParallelBranch context failing with no step events inside it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.conformance.sdk import Requirement

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import SimpleNamespace


class BranchFailure(Exception):
    """What a failing branch raises; any error type satisfies the requirements."""


def returns(value: Any) -> Callable[[Any], Any]:
    """A branch returning ``value`` directly."""
    return lambda ctx: value


def raises(ctx: Any) -> Any:
    """A branch that fails."""
    raise BranchFailure("branch failed")


def step_returning(value: str) -> Callable[[Any], Any]:
    """A branch running one step that returns ``value``."""
    return lambda ctx: ctx.step(lambda _: value)


def projection(result: Any, *fields: str) -> dict[str, Any]:
    """The batch-result projection objects the YAMLs expect, keyed by their camelCase names."""
    values = {
        "completionReason": result.completion_reason.value,
        "status": result.status.value,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }
    return {name: values[name] for name in fields}


FULL = ("completionReason", "status", "successCount", "failureCount", "totalCount")
COUNTS = ("completionReason", "successCount", "failureCount", "totalCount")


def sequential(sdk: SimpleNamespace, **completion: Any) -> Any:
    """Max-concurrency 1 (deterministic history) and the given completion config."""
    return sdk.ParallelConfig(
        max_concurrency=1, completion_config=sdk.CompletionConfig(**completion)
    )


def basic(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-1: two branches, one step each, sequential."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [step_returning("task-1"), step_returning("task-2")]
        config = sdk.ParallelConfig(max_concurrency=1)
        return ctx.parallel(branches, name="parallel", config=config).get_results()

    return handler


def branches_only(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-2: no name argument; branches return directly."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [returns("alpha"), returns("beta")]
        return ctx.parallel(branches, config=sdk.ParallelConfig(max_concurrency=1)).get_results()

    return handler


def named_branches(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-3: ParallelBranch objects named "first" and "second"."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [
            sdk.ParallelBranch(func=returns("one"), name="first"),
            sdk.ParallelBranch(func=returns("two"), name="second"),
        ]
        config = sdk.ParallelConfig(max_concurrency=1)
        return ctx.parallel(branches, name="named", config=config).get_results()

    return handler


def heterogeneous(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-4: a string, a number and an object keep their types."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [returns("hello"), returns(42), returns({"k": "v"})]
        config = sdk.ParallelConfig(max_concurrency=1)
        return ctx.parallel(branches, name="hetero", config=config).get_results()

    return handler


def empty(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-5: no branches and no config."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.parallel([], name="empty").get_results()

    return handler


def fail_fast(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-6: tolerated-failure-count 0; branch 1 fails, branch 2 never starts; no rethrow."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [returns("ok"), raises, returns("unreached")]
        config = sequential(sdk, tolerated_failure_count=0)
        return projection(ctx.parallel(branches, name="failfast", config=config), *FULL)

    return handler


def throw_if_error(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-7: branch 0 fails and the handler rethrows it, failing the execution."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sequential(sdk, tolerated_failure_count=0)
        result = ctx.parallel([raises, returns("unreached")], name="throwing", config=config)
        result.throw_if_error()
        return result.get_results()

    return handler


def min_successful(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-8: min-successful 2 completes before branches 2 and 3 start."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [returns(f"b{index}") for index in range(4)]
        config = sequential(sdk, min_successful=2)
        result = ctx.parallel(branches, name="min-successful", config=config)
        return projection(result, "completionReason", "successCount", "totalCount")

    return handler


def tolerated_count(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-9: one failure within tolerated-failure-count 1; every branch runs."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [returns("b0"), raises, returns("b2")]
        config = sequential(sdk, tolerated_failure_count=1)
        return projection(ctx.parallel(branches, name="tolerated", config=config), *FULL)

    return handler


def tolerated_count_exceeded(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-10: two failures exceed tolerated-failure-count 1; branch 2 never starts."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [raises, raises, returns("unreached")]
        config = sequential(sdk, tolerated_failure_count=1)
        result = ctx.parallel(branches, name="tolerated-exceeded", config=config)
        return projection(result, *COUNTS)

    return handler


def concurrent(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-11: two branches in flight at once; results still in index order."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [returns("r0"), returns("r1"), returns("r2")]
        config = sdk.ParallelConfig(max_concurrency=2)
        return ctx.parallel(branches, name="concurrent", config=config).get_results()

    return handler


def flat(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-12: FLAT nesting; each branch's step sits directly under the Parallel context."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [step_returning("fa"), step_returning("fb")]
        config = sdk.ParallelConfig(max_concurrency=1, nesting_type=sdk.NestingType.FLAT)
        return ctx.parallel(branches, name="flat", config=config).get_results()

    return handler


def tolerated_percentage(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-13: 2 of 4 failed exceeds 25%; branches 2 and 3 never start."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [raises, raises, returns("unreached"), returns("unreached")]
        config = sequential(sdk, tolerated_failure_percentage=25)
        return projection(ctx.parallel(branches, name="tolerated-pct", config=config), *COUNTS)

    return handler


def item_serdes(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-15: a per-branch serdes that checkpoints {"wrapped": v} and reads back v."""

    class Wrapped(sdk.SerDes):  # type: ignore[name-defined,misc]
        """Symmetric envelope, so the payload proves it ran and the result proves replay."""

        def serialize(self, value: Any, serdes_context: Any) -> str:
            return json.dumps({"wrapped": value})

        def deserialize(self, data: str, serdes_context: Any) -> Any:
            return json.loads(data)["wrapped"]

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.ParallelConfig(max_concurrency=1, item_serdes=Wrapped())
        branches = [returns("x"), returns("y")]
        return ctx.parallel(branches, name="serde", config=config).get_results()

    return handler


def all_fail_tolerated(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-16: every branch fails, all within tolerated-failure-count 3."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sequential(sdk, tolerated_failure_count=3)
        return projection(ctx.parallel([raises] * 3, name="all-fail", config=config), *FULL)

    return handler


def min_not_reached(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-17: min-successful 3 is never reached; with no tolerance set, all branches run."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [returns("b0"), raises, returns("b2")]
        config = sequential(sdk, min_successful=3)
        return projection(ctx.parallel(branches, name="min-not-reached", config=config), *FULL)

    return handler


def zero_concurrency(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-19: max-concurrency 0 is rejected; the config is built inside the handler so the
    validation error fails the execution rather than the build."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.ParallelConfig(max_concurrency=0)
        branches = [returns("b0"), returns("b1")]
        return ctx.parallel(branches, name="bad-concurrency", config=config).get_results()

    return handler


def accessors(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-20: the projection comes from succeeded(), failed(), get_errors() and has_failure."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [returns("b0"), raises, returns("b2")]
        config = sequential(sdk, tolerated_failure_count=1)
        result = ctx.parallel(branches, name="accessors", config=config)
        return {
            "hasFailure": result.has_failure,
            "successCount": len(result.succeeded()),
            "failureCount": len(result.failed()),
            "errorCount": len(result.get_errors()),
        }

    return handler


def percentage_boundary(sdk: SimpleNamespace) -> Callable[..., Any]:
    """8-22: 1 of 4 failed equals (does not exceed) 25%, so every branch runs."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        branches = [raises, returns("b1"), returns("b2"), returns("b3")]
        config = sequential(sdk, tolerated_failure_percentage=25)
        return projection(ctx.parallel(branches, name="pct-boundary", config=config), *FULL)

    return handler


def build(sdk: SimpleNamespace) -> dict[str, Requirement]:
    """The parallel requirements by id, for ``sdk``."""
    factories = {
        "8-1": basic,
        "8-2": branches_only,
        "8-3": named_branches,
        "8-4": heterogeneous,
        "8-5": empty,
        "8-6": fail_fast,
        "8-7": throw_if_error,
        "8-8": min_successful,
        "8-9": tolerated_count,
        "8-10": tolerated_count_exceeded,
        "8-11": concurrent,
        "8-12": flat,
        "8-13": tolerated_percentage,
        "8-15": item_serdes,
        "8-16": all_fail_tolerated,
        "8-17": min_not_reached,
        "8-19": zero_concurrency,
        "8-20": accessors,
        "8-22": percentage_boundary,
    }
    return {rid: Requirement(factory(sdk)) for rid, factory in factories.items()}
