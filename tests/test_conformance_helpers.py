from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests import conformance
from tests.conformance import (
    assert_valid_chat_completion,
    assert_valid_chunk,
    assert_valid_embeddings,
    assert_valid_error,
    assert_valid_models_list,
)
from tests.fakes import openai_like as fake


@pytest.mark.parametrize(
    ("check", "obj"),
    [
        (assert_valid_chat_completion, fake.chat_completion()),
        (
            assert_valid_chat_completion,
            fake.chat_completion(None, tool_calls=[fake.tool_call("f", {"a": 1})]),
        ),
        (assert_valid_chunk, fake.chunk({"content": "hi"})),
        (assert_valid_chunk, fake.chunk(None, usage=fake.usage())),
        (assert_valid_models_list, fake.models_list(["gpt-4o", "gpt-4o-mini"])),
        (assert_valid_embeddings, fake.embeddings([[0.1, -0.2]])),
        (assert_valid_error, fake.error_body("nope", code="invalid_api_key")),
    ],
)
def test_valid_objects_pass(check: Callable[[Any], None], obj: Any) -> None:
    check(obj)


def test_every_tool_call_chunk_is_valid() -> None:
    for chunk in fake.tool_call_chunks(
        [("call_1", "f", ['{"a"', ": 1}"]), ("call_2", "g", ["{}"])], include_usage=True
    ):
        assert_valid_chunk(chunk)


def test_failure_names_the_path_of_the_bad_field() -> None:
    completion = fake.chat_completion()
    completion["choices"][0]["finish_reason"] = "done"
    with pytest.raises(AssertionError, match=r"\$\.choices\[0\]\.finish_reason: 'done' is not one of"):
        assert_valid_chat_completion(completion)


def test_failure_lists_every_violation() -> None:
    completion = fake.chat_completion()
    del completion["object"]
    completion["usage"]["total_tokens"] = "12"
    errors = conformance.conformance_errors(completion, "CreateChatCompletionResponse")
    assert errors == [
        "$: 'object' is a required property",
        "$.usage.total_tokens: '12' is not of type 'integer'",
    ]


def test_failure_inside_a_nullable_field_reports_the_deepest_path() -> None:
    chunk = fake.chunk(None, usage={"prompt_tokens": 1, "completion_tokens": "2", "total_tokens": 3})
    with pytest.raises(AssertionError, match=r"\$\.usage\.completion_tokens: '2' is not of type 'integer'"):
        assert_valid_chunk(chunk)


def test_missing_tool_call_index_in_a_chunk_is_caught() -> None:
    chunk = fake.chunk({"tool_calls": [{"id": "call_1", "type": "function"}]})
    with pytest.raises(AssertionError, match=r"\$\.choices\[0\]\.delta\.tool_calls\[0\]: 'index' is a required"):
        assert_valid_chunk(chunk)


def test_error_fields_are_all_required() -> None:
    with pytest.raises(AssertionError, match=r"\$\.error: 'param' is a required property"):
        assert_valid_error({"error": {"message": "m", "type": "t", "code": None}})


def test_validators_are_cached_and_names_checked() -> None:
    assert conformance.validator("ErrorResponse") is conformance.validator("ErrorResponse")
    with pytest.raises(KeyError, match="NoSuchSchema"):
        conformance.validator("NoSuchSchema")


def test_schema_file_keeps_its_attribution() -> None:
    document = json.loads(conformance.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert "openai/openai-openapi" in document["$comment"] and "MIT" in document["$comment"]
    readme = (conformance.SCHEMA_PATH.parent / "README.md").read_text(encoding="utf-8")
    assert "MIT License" in readme and "openai/openai-openapi" in readme
