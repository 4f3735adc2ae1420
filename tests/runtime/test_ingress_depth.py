"""The nesting-depth guard: exact on deep bodies, and skipped only when the bracket count proves the
body cannot be too deep."""

from __future__ import annotations

import orjson
import pytest

from modelmux.errors import RequestError
from modelmux.runtime.ingress import parse_json_body


def test_many_brackets_side_by_side_are_not_deep() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]} for _ in range(50)]}
    assert parse_json_body(orjson.dumps(body), max_depth=8) == body


@pytest.mark.parametrize("depth", [9, 10, 40])
def test_a_body_deeper_than_the_limit_is_refused(depth: int) -> None:
    raw = b'{"x":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    with pytest.raises(RequestError, match="nested deeper than 8"):
        parse_json_body(raw, max_depth=8)


def test_a_body_at_the_limit_passes() -> None:
    raw = b'{"x":' + b"[" * 7 + b"]" * 7 + b"}"
    assert parse_json_body(raw, max_depth=8)["x"] == [[[[[[[]]]]]]]


def test_brackets_inside_strings_only_make_the_walk_happen() -> None:
    raw = orjson.dumps({"content": "[" * 100})
    assert parse_json_body(raw, max_depth=4) == {"content": "[" * 100}
