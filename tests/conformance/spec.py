"""Requirement YAMLs: found by id, read, and bound to fresh ``Variables``.

Binding happens once per run, before anything is sent: ``${GEN_STR:n}`` becomes a new
random string and every ``${NAME}`` of a variable is replaced in Input, CallbackActions,
ExpectedResult, ExpectedExecutionHistory and ExpectedLogs. Other ``${NAME}`` placeholders
(operation ids bound while matching) and ``${/re/}`` patterns are left for the matcher.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# A copy of aws-durable-execution-conformance-tests' requirements (Apache-2.0, see the
# LICENSE and NOTICE beside them), kept in the repository so CI needs nothing else; the
# variable points the harness at another copy.
REQUIREMENTS = Path(
    os.environ.get(
        "DURABLE_MP_CONFORMANCE_REQUIREMENTS",
        Path(__file__).resolve().parent / "requirements",
    )
)
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
GENERATOR = re.compile(r"\$\{GEN_STR:(\d+)\}")
_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class Spec:
    """One requirement, its variables bound."""

    id: str  # "1-17"
    suite: str  # the folder: "step"
    path: Path
    description: str
    optional: bool
    input: Any
    async_invoke: bool
    callback_actions: list[dict[str, Any]]
    expected_result: dict[str, Any] | None
    expected_history: list[dict[str, Any]]
    expected_logs: list[dict[str, Any]]
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def input_json(self) -> str | None:
        """The execution input as the service receives it (None: no input)."""
        return None if self.input is None else json.dumps(self.input)


def requirement_paths() -> list[Path]:
    """Every requirement YAML, in suite then numeric order ("1-2" before "1-10")."""
    return sorted(REQUIREMENTS.glob("*/*.yaml"), key=sort_key)


def sort_key(path: Path | str) -> tuple[int, ...]:
    stem = Path(path).stem
    return tuple(int(part) if part.isdigit() else 0 for part in stem.split("-"))


def path_of(requirement: str) -> Path:
    """The YAML of ``requirement``: an id ("1-1"), "suite/1-1", or a path."""
    candidate = Path(requirement)
    if candidate.suffix == ".yaml" and candidate.is_file():
        return candidate
    found = list(REQUIREMENTS.glob(f"*/{candidate.name}.yaml"))
    if len(found) != 1:
        raise LookupError(f"no requirement {requirement!r} under {REQUIREMENTS}")
    return found[0]


def load(requirement: str | Path) -> Spec:
    """Read a requirement and bind its variables to fresh random strings."""
    path = path_of(str(requirement))
    raw = yaml.safe_load(path.read_text())
    variables = {name: generate(str(text)) for name, text in (raw.get("Variables") or {}).items()}
    bound = substitute(raw, variables)
    return Spec(
        id=path.stem,
        suite=path.parent.name,
        path=path,
        description=str(raw.get("description", "")).strip(),
        optional=bool(raw.get("optional", False)),
        input=bound.get("Input"),
        async_invoke=bool(raw.get("AsyncInvoke", False)),
        callback_actions=list(bound.get("CallbackActions") or []),
        expected_result=bound.get("ExpectedResult"),
        expected_history=list(bound.get("ExpectedExecutionHistory") or []),
        expected_logs=list(bound.get("ExpectedLogs") or []),
        variables=variables,
    )


def generate(text: str) -> str:
    """``${GEN_STR:n}`` -> n random lower-case letters and digits; anything else stays."""
    return GENERATOR.sub(
        lambda m: "".join(secrets.choice(_ALPHABET) for _ in range(int(m[1]))), text
    )


def substitute(value: Any, variables: dict[str, str]) -> Any:
    """Replace ``${NAME}`` of known variables everywhere inside ``value``."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: variables.get(m[1], m[0]), value)
    if isinstance(value, dict):
        return {key: substitute(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, variables) for item in value]
    return value
