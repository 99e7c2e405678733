"""durable_mp.preview: the same previews as the official SDK's module, value for value."""

from __future__ import annotations

from aws_durable_execution_sdk_python import preview as official
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_mp import preview
from durable_mp.preview import (
    FieldMatchMode,
    PreviewConfig,
    PreviewField,
    PreviewMode,
    build_preview,
)

NAMES = ["id", "email", "total", "items", "sku", "a.b"]
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NAMES), inner, max_size=4),
    max_leaves=12,
)
rules = st.lists(
    st.tuples(st.sampled_from([*NAMES, "items.sku", "customer.email"]), st.sampled_from(["ANYWHERE", "PATH"])),
    max_size=2,
)


def config(module, mode, include, exclude, mask, budget):
    def fields(pairs):
        return [module.PreviewField(name, module.FieldMatchMode(match)) for name, match in pairs]

    return module.PreviewConfig(
        mode=module.PreviewMode(mode), include=fields(include), exclude=fields(exclude),
        mask=fields(mask), max_preview_bytes=budget,
    )


@settings(max_examples=300, deadline=None)
@given(
    value=st.dictionaries(st.sampled_from(NAMES), values, max_size=5),
    mode=st.sampled_from(["INCLUDE_ALL", "EXCLUDE_ALL"]),
    include=rules, exclude=rules, mask=rules,
    budget=st.sampled_from([10, 40, 4096]),
)
def test_the_same_preview_as_the_official_sdk(value, mode, include, exclude, mask, budget):
    ours = build_preview(value, config(preview, mode, include, exclude, mask, budget))
    theirs = official.build_preview(value, config(official, mode, include, exclude, mask, budget))
    assert ours == theirs


def test_include_mask_and_exclude():
    order = {
        "order_id": "ORD-1",
        "email": "a@b.c",
        "items": [{"sku": "X", "price": 1}, {"sku": "Y", "price": 2}],
        "customer": {"email": "c@d.e", "name": "Ann"},
    }
    shown = build_preview(order, PreviewConfig(
        mode=PreviewMode.EXCLUDE_ALL,
        include=[PreviewField("order_id"), PreviewField("sku")],
        mask=[PreviewField("email")],
        exclude=[PreviewField("customer.email", FieldMatchMode.PATH)],
    ))
    assert shown == {"order_id": "ORD-1", "email": "***", "items": {"sku": "Y"}}
    assert build_preview([1, 2], PreviewConfig(mode=PreviewMode.INCLUDE_ALL)) is None
