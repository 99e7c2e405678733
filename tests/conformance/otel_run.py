"""Running the OpenTelemetry requirements on the embedded service, with the OpenTelemetry
SDK's in-memory exporter as the backend.

A case is one requirement in one view: ``otel-invocation-N`` with durable-mp's
``InvocationOtelPluginFactory``, ``otel-execution-N`` with ``ExecutionOtelPluginFactory``,
and each ``otel-long-running-N`` twice (``/invocation`` against ``TelemetryAssertions``,
``/execution`` against ``ExecutionTelemetryAssertions``). A case runs like any embedded
requirement (status, history and result judged first, by the same code), then its
execution's spans -- gathered as a backend would (:func:`telemetry.correlated`) -- are
checked against the assertions, with ``${EXECUTION_ARN}``, ``${SERVICE_NAME}`` and the
history's bindings filled in. Every case shares one tracer provider and exporter, so the
cases run concurrently like the rest of the suite; each picks its spans by ARN.
"""

from __future__ import annotations

import concurrent.futures
import functools
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tests.conformance import otel_handlers
from tests.conformance.embedded import EmbeddedTarget
from tests.conformance.logs import LogBook
from tests.conformance.matching import first_history_error
from tests.conformance.outcome import Outcome, judge, normalize
from tests.conformance.sdk import load_sdk
from tests.conformance.spec import generate, load, sort_key, substitute
from tests.conformance.telemetry import bind, canonical, correlated, telemetry_errors

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tests.conformance.sdk import Requirement
    from tests.conformance.spec import Spec

REQUIREMENTS = Path(__file__).resolve().parent / "otel_requirements"
SERVICE_NAME = "durable-mp-conformance"
CONCURRENCY = 24
VIEWS = {"otel-invocation": "invocation", "otel-execution": "execution"}


@dataclass(frozen=True)
class Case:
    """One requirement in one view."""

    id: str  # "otel-invocation-1", "otel-long-running-2/execution"
    path: Path
    view: str  # "invocation" or "execution"
    assertions_key: str  # "TelemetryAssertions" or "ExecutionTelemetryAssertions"


def cases() -> list[Case]:
    found: list[Case] = []
    for path in sorted(REQUIREMENTS.glob("*/*.yaml"), key=lambda p: (p.parent.name, sort_key(p))):
        suite = path.parent.name
        if suite in VIEWS:
            found.append(Case(path.stem, path, VIEWS[suite], "TelemetryAssertions"))
        else:
            found.append(Case(f"{path.stem}/invocation", path, "invocation", "TelemetryAssertions"))
            found.append(
                Case(f"{path.stem}/execution", path, "execution", "ExecutionTelemetryAssertions")
            )
    return found


_build_lock = threading.RLock()


@functools.cache
def _backend() -> tuple[Any, InMemorySpanExporter]:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": SERVICE_NAME}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def backend() -> tuple[Any, InMemorySpanExporter]:
    """The provider every case's plugins export to, and its in-memory exporter (made once,
    whichever case's thread asks first)."""
    with _build_lock:
        return _backend()


def factory_for(view: str) -> Any:
    from durable_mp.otel import (
        ExecutionOtelPluginFactory,
        InvocationOtelPluginFactory,
        OtelPluginConfig,
    )

    config = OtelPluginConfig(tracer_provider=backend()[0])
    return (InvocationOtelPluginFactory if view == "invocation" else ExecutionOtelPluginFactory)(
        config
    )


@functools.cache
def _handlers(view: str) -> dict[str, Requirement]:
    return otel_handlers.build(load_sdk("durable_mp"), factory_for(view))


def handlers(view: str) -> dict[str, Requirement]:
    with _build_lock:
        return _handlers(view)


def run_case(case: Case, target: EmbeddedTarget) -> Outcome:
    """Run ``case``; never raises (a harness failure is the outcome's first error)."""
    started = time.monotonic()
    spec = load(case.path)
    try:
        raw = yaml.safe_load(case.path.read_text())
        variables = {name: generate(str(text)) for name, text in (raw.get("Variables") or {}).items()}
        assertions = substitute(raw[case.assertions_key], variables)
        requirement = handlers(case.view)[spec.input["scenario"]]
        if spec.input["scenario"] == "wait-interrupted":
            timeout = otel_handlers.INTERRUPTED_WAIT_TIMEOUT_SECONDS
            requirement = replace(requirement, execution_timeout_seconds=timeout)
        seen = target.observe(spec, requirement)
    except Exception as error:
        text = f"harness: {type(error).__name__}: {error}"
        return Outcome(False, normalize(text, spec), {"seconds": round(time.monotonic() - started, 2)})
    outcome = judge(spec, seen, time.monotonic() - started)
    if not outcome.passed or seen.arn is None:
        return outcome
    bindings: dict[str, Any] = {}
    first_history_error(spec.expected_history, seen.history, bindings)
    bindings.update(EXECUTION_ARN=seen.arn, SERVICE_NAME=SERVICE_NAME)
    try:
        bound = bind(assertions, bindings)
    except LookupError as unbound:
        return Outcome(False, _normalized(f"telemetry: {unbound}", spec), outcome.details)
    allowed = bound.get("allowed_execution_arns") or [seen.arn]
    arns = [seen.arn, *(arn for arn in allowed if arn != seen.arn)]
    spans = correlated([canonical(span) for span in backend()[1].get_finished_spans()], arns)
    errors = telemetry_errors(spans, bound, seen.arn)
    details = {**outcome.details, "spans": len(spans), "telemetry_errors": errors}
    if errors:
        return Outcome(False, _normalized(f"telemetry: {errors[0]}", spec), details)
    return Outcome(True, None, details)


def _normalized(text: str, spec: Spec) -> str:
    """ARNs and request ids elided; variable values are left alone (a variable of "1"
    would otherwise be elided from every span id)."""
    return normalize(text, replace(spec, variables={}))


class OtelCampaign:
    """Every case submitted at once, on a pool; each result waited for on demand.

    Cases with ``CallbackActions`` run first, as many at a time as the worker pool has
    slots: the harness completes their callback a second after it starts, and the
    callback submitter (a step) must have run by then -- queued behind other cases'
    steps on a two-slot pool of a loaded machine it may not have.
    """

    def __init__(self, wanted: list[Case] | None = None) -> None:
        self._workdir = tempfile.TemporaryDirectory(prefix="durable-otel-conformance-")
        # The OTel handlers print no plugin records: leave the sink to the main harness.
        self._target = EmbeddedTarget(
            LogBook(), Path(self._workdir.name), plugin_records_here=False
        )
        self._pool = concurrent.futures.ThreadPoolExecutor(
            CONCURRENCY, thread_name_prefix="conformance-otel"
        )
        self.cases = wanted if wanted is not None else cases()
        self._futures: dict[str, concurrent.futures.Future[Outcome]] = {
            case.id: concurrent.futures.Future() for case in self.cases
        }
        timed = [case for case in self.cases if _has_callbacks(case)]
        rest = [case for case in self.cases if case not in timed]
        self._waves = threading.Thread(
            target=self._run_waves, args=(timed, rest), name="conformance-otel-waves", daemon=True
        )
        self._waves.start()

    def _run_waves(self, timed: list[Case], rest: list[Case]) -> None:
        slots = _warm_workers()
        waves = [timed[i : i + slots] for i in range(0, len(timed), slots)]
        for wave in [*waves, rest]:
            running = [(case, self._pool.submit(run_case, case, self._target)) for case in wave]
            for case, future in running:
                try:
                    self._futures[case.id].set_result(future.result())
                except BaseException as error:  # the pool shut down
                    self._futures[case.id].set_exception(error)

    all_cases = staticmethod(cases)

    def outcome(self, case_id: str) -> Outcome:
        return self._futures[case_id].result(timeout=600)

    def outcomes(self) -> dict[str, Outcome]:
        return {case.id: self.outcome(case.id) for case in self.cases}

    def close(self) -> None:
        self._waves.join(timeout=600)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._workdir.cleanup()


def _warm_workers() -> int:
    """Start every worker of the shared pool and import the worker side of the tracing
    there, as a warm Lambda sandbox has: the callback cases' one-second budget is for the
    submitter step, not for starting interpreters on a loaded machine."""
    import cloudpickle

    from durable_mp.workers import Job, default_pool

    pool = default_pool()
    jobs = [
        pool.submit(Job(cloudpickle.dumps((_import_and_linger, ())), f"warm-up {n}"))
        for n in range(pool.size)
    ]
    for job in jobs:
        job.result(timeout=120)
    return pool.size


def _import_and_linger() -> None:
    import durable_mp.otel.worker  # noqa: F401

    time.sleep(0.2)  # so that each warm-up job gets a worker of its own


def _has_callbacks(case: Case) -> bool:
    return bool(yaml.safe_load(case.path.read_text()).get("CallbackActions"))
