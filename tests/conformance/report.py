"""``python -m tests.conformance.report``: run every requirement on every target, write
``docs/conformance.md``.

One row per requirement, a column per target (pass, fail with the first error, or a pass
with dex's documented omissions waived), totals on top; then the OpenTelemetry requirements
(embedded, ``otel_run.py``). It also prints what the emulator-limitation list should be, judged from this run (requirements both SDKs fail identically on dex, and the
smallest set of known dex omissions that explains the official SDK's failure), so the
list in ``limitations.py`` can be kept exact.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.conformance.campaign import Campaign
from tests.conformance.limitations import EMULATOR_LIMITATIONS, OMISSIONS, waiver
from tests.conformance.otel_run import OtelCampaign
from tests.conformance.outcome import judge
from tests.conformance.run import TARGETS, Harness, describe, requirement_ids
from tests.conformance.spec import load

if TYPE_CHECKING:
    from tests.conformance.outcome import Outcome

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "docs" / "conformance.md"
COMMAND = "python -m tests.conformance.report"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--only", nargs="*", default=None, help="requirement ids to run")
    parser.add_argument("--json", type=Path, default=None, help="also dump every outcome here")
    args = parser.parse_args(argv)
    ids = [rid for rid, _ in requirement_ids() if not args.only or rid in args.only]
    started = time.monotonic()
    with Harness() as harness:
        campaign = Campaign(harness, [(target, rid) for target in TARGETS for rid in ids])
        otel = OtelCampaign(
            [c for c in OtelCampaign.all_cases() if not args.only or c.id in args.only]
        )
        table = {target: campaign.outcomes(target) for target in TARGETS}
        otel_table = otel.outcomes()
        otel.close()
    seconds = time.monotonic() - started
    args.output.write_text(render(ids, table, seconds) + render_otel(otel_table))
    if args.json:
        dump = {
            t: {rid: describe(o) for rid, o in outcomes.items()} for t, outcomes in table.items()
        }
        dump["otel-embedded"] = {cid: describe(o) for cid, o in otel_table.items()}
        args.json.write_text(json.dumps(dump, indent=1, default=str))
    print(f"wrote {args.output} ({seconds:.0f} s)")
    suggested = suggest_limitations(table)
    if suggested != {rid: EMULATOR_LIMITATIONS[rid] for rid in ids if rid in EMULATOR_LIMITATIONS}:
        print("EMULATOR_LIMITATIONS, judged from this run:")
        print(
            "{\n" + "".join(f'    "{rid}": {names!r},\n' for rid, names in suggested.items()) + "}"
        )
    return 0


def status(target: str, requirement: str, table: dict[str, dict[str, Outcome]]) -> str:
    """pass, fail, or limitation: a pass with the emulator's omissions waived (dex targets
    only, under the rules of limitations.py)."""
    outcome = table[target][requirement]
    if outcome.passed:
        return "pass"
    if target == "embedded" or requirement not in EMULATOR_LIMITATIONS:
        return "fail"
    if outcome.details.get("residual") is not None:
        return "fail"
    official = table["official-on-dex"].get(requirement)
    if target == "dex" and (official is None or official.first_error != outcome.first_error):
        return "fail"
    return "limitation"


def render(ids: list[str], table: dict[str, dict[str, Outcome]], seconds: float) -> str:
    lines = [
        "# Conformance",
        "",
        "AWS's language-neutral requirements for durable execution SDKs "
        "(from aws-durable-execution-conformance-tests, Apache-2.0; a copy with its LICENSE "
        "and NOTICE is in `tests/conformance/requirements/`), run on three targets:",
        "",
        "* **embedded**: the durable-mp handler on durable-mp's embedded service (`LocalRunner`);",
        "* **dex**: the durable-mp handler in the Lambda zip `durable-mp package` builds, "
        "unzipped and served bare (nothing else on the path) by `durable-mp serve --bundle` "
        "in frozen-between-invocations sandboxes under AWS's `awslambdaric`, driven over "
        "HTTP and boto3 by AWS's `dex-local-runner`;",
        "* **official-on-dex**: the same handler source built with the official "
        "`aws-durable-execution-sdk-python`, on the same dex: the differential check.",
        "",
        "On dex a requirement can *pass with emulator omissions waived*: dex-local-runner "
        "leaves some fields out of every history whatever the SDK does (listed below, with "
        "dex's source as evidence). Such a requirement is listed in "
        "`tests/conformance/limitations.py` with the omissions that explain it, the official "
        "SDK fails the strict check with the identical first error in the same run, and "
        "the SDK passes everything else once those omissions are waived. Its cell also "
        "shows the first error of the strict check.",
        "",
        f"Regenerate: `{COMMAND}` (this run: {seconds:.0f} s on 2 cores); "
        "the same runs are the tests of `pytest tests/conformance` (there, on dex, the first "
        "three requirements of each suite unless `DURABLE_MP_CONFORMANCE=full`).",
        "",
        "## Totals",
        "",
        "| target | pass | pass, emulator omissions waived | fail |",
        "|---|---|---|---|",
    ]
    for target in TARGETS:
        counts = {kind: 0 for kind in ("pass", "limitation", "fail")}
        for rid in ids:
            counts[status(target, rid, table)] += 1
        limitation = "-" if target == "embedded" else str(counts["limitation"])
        lines.append(f"| {target} | {counts['pass']} | {limitation} | {counts['fail']} |")
    lines += ["", "## Omissions of dex-local-runner", ""]
    for omission in OMISSIONS.values():
        lines.append(f"* **{omission.name}**: {omission.what}. Evidence: {omission.evidence}.")
    lines += [
        "",
        "## Requirements",
        "",
        "| id | description | " + " | ".join(TARGETS) + " |",
        "|---|---|" + "---|" * len(TARGETS),
    ]
    for rid in ids:
        spec = load(rid)
        optional = " *(optional)*" if spec.optional else ""
        cells = [cell(target, rid, table) for target in TARGETS]
        lines.append(
            f"| {rid} | {escape(spec.description)}{optional} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def render_otel(table: dict[str, Outcome]) -> str:
    """The OpenTelemetry requirements: embedded only, each in the view its suite names."""
    passed = sum(outcome.passed for outcome in table.values())
    lines = [
        "",
        "## OpenTelemetry requirements",
        "",
        "AWS's OpenTelemetry requirements (same source and license; a copy is in "
        "`tests/conformance/otel_requirements/`), run on the embedded service with "
        "`durable_mp.otel` exporting to the OpenTelemetry SDK's in-memory exporter, and "
        "judged by the span-assertion rules of that suite (`tests/conformance/telemetry.py`). "
        "otel-invocation runs with `InvocationOtelPluginFactory`, otel-execution with "
        "`ExecutionOtelPluginFactory`, each otel-long-running requirement in both views "
        "(waits of `LONG_DELAY_SECONDS` = 1, fast-forwarded). The same runs are the tests "
        "of `tests/conformance/test_otel_conformance.py`.",
        "",
        "| target | pass | fail |",
        "|---|---|---|",
        f"| embedded, in-memory exporter | {passed} | {len(table) - passed} |",
        "",
        "| case | spans | result |",
        "|---|---|---|",
    ]
    for case_id, outcome in table.items():
        result = "pass" if outcome.passed else f"**fail**: `{escape(outcome.first_error or '')}`"
        lines.append(f"| {case_id} | {outcome.details.get('spans', '-')} | {result} |")
    return "\n".join(lines) + "\n"


def cell(target: str, requirement: str, table: dict[str, dict[str, Outcome]]) -> str:
    kind = status(target, requirement, table)
    outcome = table[target][requirement]
    if kind == "pass":
        return "pass"
    if kind == "limitation":
        names = ", ".join(EMULATOR_LIMITATIONS[requirement])
        return (
            f"pass (emulator omissions waived: {names}); strict: "
            f"`{escape(outcome.first_error or '')}`"
        )
    residual = outcome.details.get("residual")
    rest = f" (omissions waived: `{escape(residual)}`)" if residual else ""
    return f"**fail**: `{escape(outcome.first_error or '')}`{rest}"


def escape(text: str) -> str:
    return " ".join(text.replace("|", "\\|").replace("`", "'").split())


def suggest_limitations(table: dict[str, dict[str, Outcome]]) -> dict[str, tuple[str, ...]]:
    """Requirements both SDKs fail identically on dex, with the omissions explaining it."""
    combinations = [
        names for size in (1, 2, 3) for names in itertools.combinations(OMISSIONS, size)
    ]
    suggested: dict[str, tuple[str, ...]] = {}
    for rid, official in table["official-on-dex"].items():
        mine = table["dex"].get(rid)
        if official.passed or mine is None or mine.first_error != official.first_error:
            continue
        if official.evidence is None:
            continue
        spec, seen = official.evidence
        for names in combinations:
            if judge(spec, seen, 0.0, waiver(names)).details["residual"] is None:
                suggested[rid] = names
                break
    return suggested


if __name__ == "__main__":
    sys.exit(main())
