"""Previews: a few fields of a value, kept inline in a checkpoint for people to read.

When a result is stored elsewhere (``FileSystemSerDes``, or any serdes of your own), the
checkpoint holds a pointer; a preview next to it shows chosen fields in the console and
the API without fetching the value::

    FileSystemSerDesConfig(generate_preview=lambda value: build_preview(value, PreviewConfig(
        mode=PreviewMode.EXCLUDE_ALL,
        include=[PreviewField("order_id"), PreviewField("total")],
        mask=[PreviewField("email")],
    )))

Same names, options and output as the official SDK's ``preview`` module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["FieldMatchMode", "PreviewConfig", "PreviewField", "PreviewMode", "build_preview"]


class PreviewMode(StrEnum):
    """What is shown unless a rule says otherwise: every field, or none."""

    INCLUDE_ALL = "INCLUDE_ALL"
    EXCLUDE_ALL = "EXCLUDE_ALL"


class FieldMatchMode(StrEnum):
    """``ANYWHERE``: a field of that name at any depth; ``PATH``: the dotted path from
    the root (``"customer.email"``; a single name is a root-level field)."""

    ANYWHERE = "ANYWHERE"
    PATH = "PATH"


@dataclass(frozen=True)
class PreviewField:
    """A field rule. Dots separate path segments, so names containing dots cannot be
    addressed (and such keys are never shown)."""

    name: str
    match: FieldMatchMode = FieldMatchMode.ANYWHERE

    def matches(self, path: tuple[str, ...]) -> bool:
        if self.match is FieldMatchMode.PATH:
            return ".".join(path) == self.name
        return self.name in path


@dataclass(frozen=True)
class PreviewConfig:
    """Which fields a preview shows.

    ``exclude`` always wins; a ``mask``ed field is shown (as ``mask_string``) even in
    ``EXCLUDE_ALL`` mode; ``include`` adds fields in ``EXCLUDE_ALL`` mode. Fields are
    taken in order until the preview's JSON would pass ``max_preview_bytes``.
    """

    mode: PreviewMode
    include: list[PreviewField] = field(default_factory=list)
    exclude: list[PreviewField] = field(default_factory=list)
    mask: list[PreviewField] = field(default_factory=list)
    mask_string: str = "***"
    max_preview_bytes: int = 4096


def _any(rules: list[PreviewField], path: tuple[str, ...]) -> bool:
    return any(rule.matches(path) for rule in rules)


Leaf = tuple[tuple[str, ...], Any]


def _visible_leaves(value: Any, path: tuple[str, ...], config: PreviewConfig) -> list[Leaf]:
    """The (path, shown value) pairs under ``value``, in document order.

    A list's elements are walked at the list's own path (the preview keeps no arrays).
    A hidden field is still searched: a visible field may lie below it, unless it was
    excluded, which hides everything below.
    """
    if isinstance(value, list):
        return [pair for item in value for pair in _visible_leaves(item, path, config)]
    if not isinstance(value, dict):
        return []
    pairs: list[Leaf] = []
    for key, child in value.items():
        if "." in str(key):
            continue
        here = (*path, str(key))
        excluded = _any(config.exclude, here)
        masked = _any(config.mask, here)
        shown = not excluded and (
            masked or config.mode is PreviewMode.INCLUDE_ALL or _any(config.include, here)
        )
        if masked and shown:
            pairs.append((here, config.mask_string))
        elif shown and not isinstance(child, dict | list):
            pairs.append((here, child))
        elif shown or not excluded:
            pairs.extend(_visible_leaves(child, here, config))
    return pairs


def build_preview(value: Any, config: PreviewConfig) -> dict[str, Any] | None:
    """The preview of ``value`` (a dict) under ``config``, nested like ``value``.

    None when ``value`` is not a dict or nothing is visible within the byte budget.
    When array elements disagree at one path, the later element's value is kept.
    """
    if not isinstance(value, dict):
        return None
    budget = config.max_preview_bytes - 2  # the braces
    preview: dict[str, Any] = {}
    for path, shown in _visible_leaves(value, (), config):
        cost = len(f'"{".".join(path)}":{json.dumps(shown)},'.encode())
        if cost > budget:
            break
        budget -= cost
        node = preview
        for segment in path[:-1]:
            if not isinstance(node.get(segment), dict):
                node[segment] = {}
            node = node[segment]
        node[path[-1]] = shown
    return preview or None
