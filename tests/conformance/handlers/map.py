"""Handlers of the map conformance suite (9-x), written once for both SDKs.

Each factory builds the handler its requirement's YAML describes in prose. Items that
"raise" raise straight from the map function (no inner step): the expected histories
show the MapIteration context failing with no step events inside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.conformance.sdk import Requirement

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import SimpleNamespace


class ItemFailure(Exception):
    """What a failing item raises; any error type satisfies the requirements."""


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


def fail_at(*failing: int, value: Any = "ok") -> Callable[..., Any]:
    """A map function returning ``value`` directly, raising for the ``failing`` indexes."""

    def map_func(ctx: Any, item: Any, index: int, items: Any) -> Any:
        if index in failing:
            raise ItemFailure(f"item {index} failed")
        return value

    return map_func


def upper(ctx: Any, item: str, index: int, items: Any) -> str:
    """Uppercase the item directly, without an inner step."""
    return item.upper()


def basic(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-1: one greeting step per item, sequential."""

    def greet(ctx: Any, item: str, index: int, items: Any) -> str:
        return ctx.step(lambda _: f"Hello, {item}!")

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(max_concurrency=1)
        return ctx.map(event, greet, name="map", config=config).get_results()

    return handler


def items_only(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-2: no name argument; each item doubled directly."""

    def double(ctx: Any, item: int, index: int, items: Any) -> int:
        return item * 2

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.map(event, double, config=sdk.MapConfig(max_concurrency=1)).get_results()

    return handler


def item_and_index(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-3: the map function uses both the item and its index."""

    def add_index(ctx: Any, item: int, index: int, items: Any) -> int:
        return item + index

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(max_concurrency=1)
        return ctx.map(event, add_index, name="indexed", config=config).get_results()

    return handler


def empty(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-4: an empty items list (the input) and no config."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.map(event, upper, name="empty").get_results()

    return handler


def fail_fast(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-5: tolerated-failure-count 0; item 1 fails, item 2 never starts; no rethrow."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(
            max_concurrency=1, completion_config=sdk.CompletionConfig(tolerated_failure_count=0)
        )
        result = ctx.map(["i0", "i1", "i2"], fail_at(1), name="failfast", config=config)
        return projection(result, *FULL)

    return handler


def throw_if_error(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-6: item 0 fails and the handler rethrows it, failing the execution."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(
            max_concurrency=1, completion_config=sdk.CompletionConfig(tolerated_failure_count=0)
        )
        result = ctx.map(["i0", "i1"], fail_at(0), name="throwing", config=config)
        result.throw_if_error()
        return result.get_results()

    return handler


def min_successful(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-7: min-successful 2 completes before items 2 and 3 start."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(
            max_concurrency=1, completion_config=sdk.CompletionConfig(min_successful=2)
        )
        items = ["i0", "i1", "i2", "i3"]
        result = ctx.map(items, fail_at(value="done"), name="min-successful", config=config)
        return projection(result, "completionReason", "successCount", "totalCount")

    return handler


def tolerated_count(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-8: one failure within tolerated-failure-count 1; every item runs."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(
            max_concurrency=1, completion_config=sdk.CompletionConfig(tolerated_failure_count=1)
        )
        result = ctx.map(["i0", "i1", "i2"], fail_at(1), name="tolerated", config=config)
        return projection(result, *FULL)

    return handler


def tolerated_percentage(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-10: every item fails; 2 of 4 exceeds 25%, so items 2 and 3 never start."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(
            max_concurrency=1,
            completion_config=sdk.CompletionConfig(tolerated_failure_percentage=25),
        )
        items = ["i0", "i1", "i2", "i3"]
        result = ctx.map(items, fail_at(0, 1, 2, 3), name="tolerated-pct", config=config)
        return projection(result, "completionReason", "successCount", "failureCount", "totalCount")

    return handler


def concurrent(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-11: two items in flight at once; results still in index order."""

    def constant(ctx: Any, item: Any, index: int, items: Any) -> str:
        return f"r{index}"

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(max_concurrency=2)
        return ctx.map(["i0", "i1", "i2"], constant, name="concurrent", config=config).get_results()

    return handler


def flat(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-12: FLAT nesting; each item's step sits directly under the Map context."""

    def echo_step(ctx: Any, item: str, index: int, items: Any) -> str:
        return ctx.step(lambda _: item)

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(max_concurrency=1, nesting_type=sdk.NestingType.FLAT)
        return ctx.map(["fa", "fb"], echo_step, name="flat", config=config).get_results()

    return handler


def item_namer(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-13: iterations named "item-<item>" by a custom item namer."""

    def times_ten(ctx: Any, item: int, index: int, items: Any) -> int:
        return item * 10

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(max_concurrency=1, item_namer=lambda item, index: f"item-{item}")
        return ctx.map(event, times_ten, name="named-items", config=config).get_results()

    return handler


def item_serdes(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-14: a per-item serdes whose checkpointed payload is "wrapped:<result>"."""

    class Wrapped(sdk.SerDes):  # type: ignore[name-defined,misc]
        """Non-identity and reversible, so the payload proves it ran."""

        def serialize(self, value: str, serdes_context: Any) -> str:
            return f"wrapped:{value}"

        def deserialize(self, data: str, serdes_context: Any) -> str:
            return data.removeprefix("wrapped:")

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(max_concurrency=1, item_serdes=Wrapped())
        return ctx.map(["x", "y"], upper, name="serdes", config=config).get_results()

    return handler


def wait_after(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-17: a 1 s wait after a successful map; replay must skip the map."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(max_concurrency=1)
        result = ctx.map(["a", "b"], upper, name="then-wait", config=config)
        ctx.wait(sdk.Duration.from_seconds(1))
        return result.get_results()

    return handler


def wait_after_failure(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-18: a 1 s wait after a map with one tolerated failure; no rethrow."""

    def ok_or_fail(ctx: Any, item: str, index: int, items: Any) -> str:
        if item == "fail":
            raise ItemFailure("item fail failed")
        return item

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.MapConfig(
            max_concurrency=1, completion_config=sdk.CompletionConfig(tolerated_failure_count=1)
        )
        result = ctx.map(["ok", "fail"], ok_or_fail, name="fail-then-wait", config=config)
        ctx.wait(sdk.Duration.from_seconds(1))
        return projection(result, *FULL)

    return handler


def op_serdes(sdk: SimpleNamespace) -> Any:
    """The operation-level serdes of 9-19/9-20: "OPSERDE:X,Y" for a BatchResult of X, Y."""

    class OpSerDes(sdk.SerDes):  # type: ignore[name-defined,misc]
        """Encodes the whole batch result; decoding rebuilds an all-succeeded BatchResult."""

        def serialize(self, value: Any, serdes_context: Any) -> str:
            return "OPSERDE:" + ",".join(value.get_results())

        def deserialize(self, data: str, serdes_context: Any) -> Any:
            results = data.removeprefix("OPSERDE:").split(",")
            items = [
                {"index": index, "status": "SUCCEEDED", "result": result, "error": None}
                for index, result in enumerate(results)
            ]
            return sdk.BatchResult.from_dict({"all": items, "completionReason": "ALL_COMPLETED"})

    return OpSerDes()


def op_config(sdk: SimpleNamespace) -> Any:
    """Operation-level serdes only; item_serdes is set to JSON because in Python a lone
    ``serdes`` would also serialize the items (the YAML wants default item payloads)."""
    return sdk.MapConfig(max_concurrency=1, serdes=op_serdes(sdk), item_serdes=sdk.JsonSerDes())


def operation_serdes(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-19: the Map context's result payload is the operation-level serializer's output."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        return ctx.map(["x", "y"], upper, name="op-serde", config=op_config(sdk)).get_results()

    return handler


def operation_serdes_replay(sdk: SimpleNamespace) -> Callable[..., Any]:
    """9-20: after a wait, the map result is rebuilt through the custom deserializer."""

    @sdk.durable_execution
    def handler(event: Any, ctx: Any) -> Any:
        result = ctx.map(["x", "y"], upper, name="op-serde-replay", config=op_config(sdk))
        ctx.wait(sdk.Duration.from_seconds(1))
        return result.get_results()

    return handler


def build(sdk: SimpleNamespace) -> dict[str, Requirement]:
    """The map requirements by id, for ``sdk``."""
    factories = {
        "9-1": basic,
        "9-2": items_only,
        "9-3": item_and_index,
        "9-4": empty,
        "9-5": fail_fast,
        "9-6": throw_if_error,
        "9-7": min_successful,
        "9-8": tolerated_count,
        "9-10": tolerated_percentage,
        "9-11": concurrent,
        "9-12": flat,
        "9-13": item_namer,
        "9-14": item_serdes,
        "9-17": wait_after,
        "9-18": wait_after_failure,
        "9-19": operation_serdes,
        "9-20": operation_serdes_replay,
    }
    return {rid: Requirement(factory(sdk)) for rid, factory in factories.items()}
