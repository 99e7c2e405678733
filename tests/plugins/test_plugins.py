"""Plugin loading and failure isolation: factories, discovery by name, hooks that raise."""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any, ClassVar

import pytest

from durable_mp import durable_execution
from durable_mp.exceptions import PluginLoadError
from durable_mp.local import LocalRunner, LocalService, history_to_json
from durable_mp.plugin import DurableInstrumentationPlugin
from durable_mp.plugin_discovery import (
    PLUGIN_ENTRY_POINT_GROUP,
    PLUGIN_ENVIRONMENT_VARIABLE,
    load_configured_plugins,
)
from durable_mp.plugins import discovery
from durable_mp.plugins.dispatch import _reported

HOOKS = [
    "on_invocation_start",
    "on_invocation_end",
    "on_operation_start",
    "on_operation_end",
    "on_operation_change",
    "on_user_function_start",
    "on_user_function_end",
]


class Recorder(DurableInstrumentationPlugin):
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls


for _hook in HOOKS:
    setattr(Recorder, _hook, lambda self, info, hook=_hook: self.calls.append(hook))


class Raiser(DurableInstrumentationPlugin):
    """Raises in every hook, including the factory's sibling hooks."""

    def provide_worker_context(self, info: Any) -> Any:
        raise RuntimeError("worker context")


for _hook in HOOKS:

    def _raise(self: Any, info: Any, hook: str = _hook) -> None:
        raise RuntimeError(f"broken {hook}")

    setattr(Raiser, _hook, _raise)


class Factory:
    def __init__(self, make: Any) -> None:
        self.make = make

    def create_plugin(self, info: Any) -> Any:
        return self.make()


def run_execution(handler: Any) -> tuple[str, str | None, list[dict[str, Any]]]:
    service = LocalService(None)
    try:
        runner = LocalRunner(service, {"f": handler}, fast_forward=True)
        arn = runner.start("f", '"in"')
        runner.drive(arn)
        record = service.get_execution(arn)
        history = history_to_json(service.get_history(arn))
    finally:
        service.close()
    shape = [
        {k: v for k, v in event.items() if k not in ("EventTimestamp", "Id", "ParentId")}
        for event in history
    ]
    for event in shape:
        if event["EventType"].startswith("Execution"):
            event.pop("Name", None)  # the execution's random name
    for event in shape:
        for key in list(event):
            if key.endswith("Details") and isinstance(event[key], dict):
                event[key] = {k: v for k, v in event[key].items() if "Timestamp" not in k}
    return str(record.status), record.result, shape


def program(plugins: list[Any]) -> Any:
    def handler(event: Any, ctx: Any) -> Any:
        first = ctx.step(lambda step: f"{event}-1", name="one")
        second = ctx.run_in_child_context(lambda child: child.step(lambda s: 2, name="two"))
        return [first, second]

    return durable_execution(plugins=plugins)(handler)


def test_a_plugin_raising_in_every_hook_changes_neither_result_nor_history(caplog):
    _reported.clear()
    calls: list[str] = []
    plain = run_execution(program([]))
    with caplog.at_level(logging.DEBUG, logger="durable_mp.plugins"):
        broken = run_execution(
            program([Factory(Raiser), Factory(lambda: Recorder(calls))])
        )
    assert broken[:2] == plain[:2] == ("SUCCEEDED", '["in-1", 2]')
    assert _without_invocation_details(broken[2]) == _without_invocation_details(plain[2])
    # the healthy plugin after it still got every hook
    for hook in HOOKS:
        assert hook in calls, hook
    # logged once per hook (with a traceback), repeats at DEBUG
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    hooks_logged = [r.getMessage().split(" raised in ")[1].split(";")[0] for r in errors]
    assert sorted(hooks_logged) == sorted(set(hooks_logged))
    assert {"on_operation_start", "on_user_function_end", "on_invocation_end"} <= set(
        hooks_logged
    )
    assert all(r.exc_info for r in errors)


def _without_invocation_details(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "InvocationCompletedDetails"} for e in events]


def test_a_factory_that_raises_or_returns_junk_costs_only_its_plugin(caplog):
    calls: list[str] = []

    class Boom:
        def create_plugin(self, info: Any) -> Any:
            raise ValueError("no plugin today")

    class Junk:
        def create_plugin(self, info: Any) -> Any:
            return object()

    result = run_execution(program([Boom(), Junk(), Factory(lambda: Recorder(calls))]))
    assert result[:2] == ("SUCCEEDED", '["in-1", 2]')
    assert calls[0] == "on_invocation_start" and calls[-1] == "on_invocation_end"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (Recorder, "not a plugin factory"),  # a plugin class
        (Factory, "not a plugin factory"),  # the factory class, not an instance
        (lambda info: None, "not a plugin factory"),  # a bare callable
        (Recorder([]), "not a plugin factory"),  # a plugin instance
    ],
)
def test_plugins_must_be_factories(entry, message):
    with pytest.raises(PluginLoadError, match=message):
        durable_execution(plugins=[entry])


def test_a_class_with_a_classmethod_factory_is_accepted():
    class ClassFactory:
        @classmethod
        def create_plugin(cls, info: Any) -> Any:
            return Recorder([])

    assert load_configured_plugins([ClassFactory], environment={}) == [ClassFactory]


FACTORY = Factory(lambda: Recorder([]))


def _entry_points(monkeypatch, *points: tuple[str, str]) -> None:
    found = [metadata.EntryPoint(name, value, PLUGIN_ENTRY_POINT_GROUP) for name, value in points]
    monkeypatch.setattr(discovery.metadata, "entry_points", lambda group: found)


def test_discovery_by_name_follows_the_explicit_factories(monkeypatch):
    _entry_points(monkeypatch, ("mine", f"{__name__}:FACTORY"))
    first = Factory(lambda: Recorder([]))
    env = {PLUGIN_ENVIRONMENT_VARIABLE: " mine "}
    assert load_configured_plugins([first], environment=env) == [first, FACTORY]
    # the same factory named twice (decorator and environment) is used once
    assert load_configured_plugins([FACTORY], environment=env) == [FACTORY]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ("missing", "No plugin named 'missing'.*installed: broken, mine, notfactory"),
        ("mine,,other", "empty name"),
        ("mine,mine", "more than once"),
        ("broken", "failed to import"),
        ("notfactory", "not a plugin factory"),
    ],
)
def test_discovery_errors_say_what_to_do(monkeypatch, names, message):
    _entry_points(
        monkeypatch,
        ("mine", f"{__name__}:FACTORY"),
        ("broken", "no_such_module_anywhere:THING"),
        ("notfactory", f"{__name__}:Recorder"),
    )
    with pytest.raises(PluginLoadError, match=message):
        load_configured_plugins([], environment={PLUGIN_ENVIRONMENT_VARIABLE: names})


def test_the_decorator_reads_the_environment(monkeypatch):
    _entry_points(monkeypatch, ("mine", f"{__name__}:FACTORY"))
    monkeypatch.setenv(PLUGIN_ENVIRONMENT_VARIABLE, "nope")
    with pytest.raises(PluginLoadError, match="nope"):
        durable_execution(lambda event, ctx: None)
    monkeypatch.setenv(PLUGIN_ENVIRONMENT_VARIABLE, "mine")
    handler = durable_execution(lambda event, ctx: None)
    assert handler.__durable_settings__.plugins == (FACTORY,)


class Exclusive:
    __durable_registration_api__ = 1
    exclusive_group = "view"
    results: ClassVar[list[bool]] = []

    def create_plugin(self, info: Any) -> Any:
        return Recorder([])

    def on_registration_result(self, registered: bool) -> None:
        self.results.append(registered)


class OtherExclusive(Exclusive):
    pass


def test_exclusive_groups_refuse_two_plugins_of_one_view():
    Exclusive.results.clear()
    with pytest.raises(PluginLoadError, match="exclude each other"):
        load_configured_plugins([Exclusive(), OtherExclusive()], environment={})
    assert Exclusive.results == [False, False]
    assert load_configured_plugins([Exclusive()], environment={})
    assert Exclusive.results[-1] is True
