"""One invocation's plugins: built from the factories, called hook by hook, failures contained.

Rules (the official SDK's): a plugin receives hooks only after its invocation-start hook
was dispatched, so every plugin that saw a start sees the end; a hook that raises is logged
and ignored, except ``KeyboardInterrupt``/``SystemExit``/``GeneratorExit``, which stop the
calling thread (the invocation-end hook still reaches every plugin first). A failure is
logged once per plugin class and hook, with its traceback; repeats go to DEBUG, so a
plugin broken in every hook cannot flood the function's logs.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, cast

from durable_mp.plugin import (
    DurableInstrumentationPlugin,
    InvocationEndInfo,
    InvocationStartInfo,
    OperationChangeInfo,
    OperationEndInfo,
    OperationStartInfo,
    PropagationInput,
    PropagationMetadata,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
    WorkerContextFactory,
)
from durable_mp.plugins.changes import ChangeThread
from durable_mp.plugins.official import adapt_foreign_plugin, info_for_factory
from durable_mp.plugins.worker_contexts import (
    ContainedReport,
    ContainedWorkerContext,
    WorkerContexts,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from durable_mp.plugin import DurableInstrumentationPluginFactory

logger = logging.getLogger("durable_mp.plugins")

_CONTROL = (KeyboardInterrupt, SystemExit, GeneratorExit)

_HOOKS: dict[type[Any], str] = {
    InvocationStartInfo: "on_invocation_start",
    InvocationEndInfo: "on_invocation_end",
    OperationStartInfo: "on_operation_start",
    OperationEndInfo: "on_operation_end",
    OperationChangeInfo: "on_operation_change",
    UserFunctionStartInfo: "on_user_function_start",
    UserFunctionEndInfo: "on_user_function_end",
}

_reported: set[tuple[str, str]] = set()
_reported_lock = threading.Lock()


def report_failure(owner: object, hook: str, error: BaseException) -> None:
    """Log a contained plugin failure: with its traceback the first time, at DEBUG after."""
    kind = owner if isinstance(owner, type) else type(owner)
    name = f"{kind.__module__}.{kind.__qualname__}"
    with _reported_lock:
        first = (name, hook) not in _reported
        _reported.add((name, hook))
    if first:
        logger.error(
            "Plugin %s raised in %s; ignored (the execution goes on; later failures of "
            "this hook are logged at DEBUG)",
            name,
            hook,
            exc_info=error,
        )
    else:
        logger.debug("Plugin %s raised in %s again: %r", name, hook, error)


def _implements(plugin: object, hook: str) -> bool:
    """Whether ``plugin`` (or the official-SDK plugin it adapts) overrides ``hook`` of its
    SDK's ``DurableInstrumentationPlugin``, whose hooks do nothing."""
    target = getattr(plugin, "wrapped_plugin", plugin)
    for owner in type(target).__mro__:
        if hook in vars(owner):
            return owner.__name__ != "DurableInstrumentationPlugin"
    return False


def _control_part(error: BaseException) -> BaseException | None:
    """The part of ``error`` that tells the thread to stop, if any (groups are split)."""
    if isinstance(error, BaseExceptionGroup):
        control, _rest = error.split(_CONTROL)
        return control
    return error if isinstance(error, _CONTROL) else None


class PluginRunner:
    """The plugins of one invocation; see the module docstring."""

    def __init__(self, factories: Sequence[DurableInstrumentationPluginFactory]) -> None:
        self._factories = list(factories)
        self._plugins: list[DurableInstrumentationPlugin] = []
        self._started: list[DurableInstrumentationPlugin] = []
        self._changes: ChangeThread | None = None
        self._changes_lock = threading.Lock()
        self._wants_changes = False

    @property
    def active(self) -> bool:
        return bool(self._factories)

    # -- invocation ---------------------------------------------------------------------

    @property
    def wants_changes(self) -> bool:
        """Whether a started plugin implements ``on_operation_change`` (building its info
        means copying every operation, on every change)."""
        return self._wants_changes

    def start_invocation(self, info: InvocationStartInfo) -> None:
        self._plugins = [plugin for f in self._factories if (plugin := self._create(f, info))]
        self._wants_changes = any(
            _implements(plugin, "on_operation_change") for plugin in self._plugins
        )
        for plugin in self._plugins:
            self._started.append(plugin)  # counted first: a failed start still gets its end
            self._call(plugin, "on_invocation_start", info)

    def end_invocation(self, info: InvocationEndInfo) -> None:
        """Deliver the pending change notification, then the end hook to every plugin."""
        held: BaseException | None = None
        try:
            self.join_changes()
        except BaseException as control:
            held = control
        held = self.fan_out(info, finish=True) or held
        self._plugins, self._started = [], []
        if held is not None:
            raise held

    def _create(
        self, factory: DurableInstrumentationPluginFactory, info: InvocationStartInfo
    ) -> Any:
        try:
            plugin = factory.create_plugin(info_for_factory(factory, info))
        except BaseException as error:
            control = _control_part(error)
            if control is not None:
                raise control from None
            report_failure(factory, "create_plugin", error)
            return None
        if isinstance(plugin, DurableInstrumentationPlugin):
            return plugin
        adapted = adapt_foreign_plugin(plugin)
        if adapted is not None:
            return adapted
        kind = type(factory)
        logger.error(
            "Plugin factory %s.%s returned %r, which is not a DurableInstrumentationPlugin; "
            "no plugin from it for this invocation",
            kind.__module__,
            kind.__qualname__,
            type(plugin).__qualname__,
        )
        return None

    # -- hooks --------------------------------------------------------------------------

    def call(self, info: Any) -> None:
        """Dispatch one hook to every started plugin, on the calling thread."""
        if self._started:
            self.fan_out(info)

    def fan_out(self, info: Any, *, finish: bool = False) -> BaseException | None:
        """Call the hook on each started plugin; ``finish``: hold a stop request until all ran."""
        hook = _HOOKS[type(info)]
        held: BaseException | None = None
        for plugin in list(self._started):
            try:
                self._call(plugin, hook, info)
            except BaseException as control:
                if not finish:
                    raise
                held = held or control
        return held

    @staticmethod
    def _call(plugin: DurableInstrumentationPlugin, hook: str, info: Any) -> None:
        try:
            getattr(plugin, hook)(info)
        except BaseException as error:
            control = _control_part(error)
            if control is not None:
                raise control from None
            report_failure(getattr(plugin, "wrapped_plugin", plugin), hook, error)

    def worker_contexts(self, info: UserFunctionStartInfo) -> WorkerContexts:
        """What the plugins want entered around a step body where it runs, each one
        contained (:mod:`durable_mp.plugins.worker_contexts`)."""
        factories: list[WorkerContextFactory] = []
        owners: list[DurableInstrumentationPlugin] = []
        for plugin in list(self._started):
            try:
                factory = plugin.provide_worker_context(info)
            except BaseException as error:
                control = _control_part(error)
                if control is not None:
                    raise control from None
                report_failure(plugin, "provide_worker_context", error)
                continue
            if factory is not None:
                factories.append(ContainedWorkerContext(factory))
                owners.append(plugin)
        return WorkerContexts(tuple(factories), tuple(owners))

    def deliver_worker_report(
        self, owner: object, info: UserFunctionStartInfo, report: object
    ) -> None:
        """Hand ``owner`` what its worker context reported; log how it failed there."""
        if not any(owner is plugin for plugin in self._started):
            return
        plugin = cast("DurableInstrumentationPlugin", owner)
        if not isinstance(report, ContainedReport):
            return
        for failure in report.failures:
            report_failure(plugin, "provide_worker_context", RuntimeError(failure))
        if report.payload is None:
            return
        try:
            plugin.on_worker_report(info, report.payload)
        except BaseException as error:
            control = _control_part(error)
            if control is not None:
                raise control from None
            report_failure(plugin, "on_worker_report", error)

    def propagation_metadata(self, info: PropagationInput) -> PropagationMetadata:
        """The first non-blank trace header any plugin offers (in plugin order)."""
        chosen: str | None = None
        for plugin in list(self._started):
            try:
                metadata = plugin.provide_propagation_metadata(info)
                if metadata is None:
                    continue
                if not isinstance(metadata, PropagationMetadata):
                    raise TypeError(
                        f"provide_propagation_metadata returned {type(metadata).__name__}, "
                        "expected PropagationMetadata or None"
                    )
                header = metadata.x_amzn_trace_id
                if header is not None and not isinstance(header, str):
                    raise TypeError("x_amzn_trace_id must be a string or None")
            except BaseException as error:
                control = _control_part(error)
                if control is not None:
                    raise control from None
                report_failure(plugin, "provide_propagation_metadata", error)
                continue
            if header and header.strip() and chosen is None:
                chosen = header
            elif header and chosen is not None and header != chosen:
                logger.warning(
                    "Two plugins offer different trace headers for a chained invoke; "
                    "keeping the first"
                )
        return PropagationMetadata(x_amzn_trace_id=chosen)

    # -- change notifications -------------------------------------------------------------

    def submit_change(self, info: OperationChangeInfo) -> None:
        """Queue ``on_operation_change`` for the change thread (never runs it here)."""
        if not self._started:
            return
        with self._changes_lock:
            if self._changes is None:
                self._changes = ChangeThread(lambda merged: self.fan_out(merged, finish=True))
            changes = self._changes
        changes.submit(info)

    def join_changes(self) -> None:
        with self._changes_lock:
            changes, self._changes = self._changes, None
        if changes is not None:
            changes.join()
