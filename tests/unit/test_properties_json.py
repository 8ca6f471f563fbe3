"""Properties of the helpers in hermes.wire.fastjson that every decoder uses on values decoded
from untrusted text: they never fail in ways other than the ones they document."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given

from hermes.wire import fastjson
from tests.untrusted import SETTINGS, json_values, recursion_limit, to_json


def depth(value: Any) -> int:
    """How many arrays and objects deep, by another walk than fastjson.within's (depth first)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level + 1)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def decoded(value: Any) -> Any:
    try:
        return fastjson.loads(to_json(value))
    except ValueError:
        return None


@SETTINGS
@given(json_values)
def test_within_measures_depth(value: Any) -> None:
    value = decoded(value)
    for limit in (0, 1, 2, 200):
        assert fastjson.within(value, limit) == (depth(value) <= limit)


@SETTINGS
@given(json_values)
def test_preview_never_fails(value: Any) -> None:
    value = decoded(value)
    with recursion_limit():
        text = fastjson.preview(value, 50)
    assert isinstance(text, str) and len(text) <= 50


@SETTINGS
@given(json_values)
def test_dumps_text_is_the_stdlib_spacing_or_a_value_error(value: Any) -> None:
    value = decoded(value)
    try:
        with recursion_limit():
            text = fastjson.dumps_text(value)
    except ValueError:
        assert not fastjson.within(value)
        return
    assert text == json.dumps(value, ensure_ascii=False)
    fastjson.dumps(text)


@SETTINGS
@given(json_values.map(to_json))
def test_loaded_values_encode_again(text: str) -> None:
    """What loads_within and loads_exact accept, orjson can write back."""
    for loads in (fastjson.loads_within, fastjson.loads_exact):
        try:
            with recursion_limit():
                value = loads(text)
        except ValueError:
            continue
        if loads is fastjson.loads_within:
            fastjson.dumps(value)
        else:
            json.dumps(value, ensure_ascii=False).encode()
