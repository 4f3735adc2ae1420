"""Assertions that an object conforms to OpenAI's published schemas (fixtures/conformance).

Each helper validates against one of `components.schemas` with JSON Schema Draft 2020-12; the whole
OpenAPI document is the root resource, so its `#/components/schemas/NAME` references resolve. A failure
lists every violation with the JSON path of the offending field.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "conformance" / "openai-chat-schemas.json"
_ROOT = "urn:modelmux:openai-openapi"


@functools.cache
def _registry() -> Registry[Any]:
    document = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    resource: Resource[Any] = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_ROOT, resource)
    return registry


@functools.cache
def validator(schema_name: str) -> Draft202012Validator:
    """A cached validator for `components.schemas.<schema_name>`."""
    document = _registry().contents(_ROOT)
    if schema_name not in document["components"]["schemas"]:
        raise KeyError(f"no schema named {schema_name!r} in {SCHEMA_PATH.name}")
    schema = {"$ref": f"{_ROOT}#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=_registry())


def _deepest(error: ValidationError) -> ValidationError:
    """Inside an anyOf/oneOf failure, the sub-error deepest in the instance (the field that went wrong)."""
    best = error
    for sub in error.context or ():
        candidate = _deepest(sub)
        if len(candidate.absolute_path) > len(best.absolute_path):
            best = candidate
    return best


def _describe(error: ValidationError) -> str:
    error = _deepest(error)
    return f"{error.json_path}: {error.message}"


def conformance_errors(obj: Any, schema_name: str) -> list[str]:
    """Every violation of the schema, as `$.path.to.field: message` lines (empty when valid)."""
    errors = sorted(validator(schema_name).iter_errors(obj), key=lambda err: list(map(str, err.absolute_path)))
    return [_describe(error) for error in errors]


def assert_conforms(obj: Any, schema_name: str) -> None:
    errors = conformance_errors(obj, schema_name)
    if errors:
        detail = "\n  ".join(errors)
        raise AssertionError(f"not a valid {schema_name}:\n  {detail}")


def assert_valid_chat_completion(obj: Any) -> None:
    assert_conforms(obj, "CreateChatCompletionResponse")


def assert_valid_chunk(obj: Any) -> None:
    assert_conforms(obj, "CreateChatCompletionStreamResponse")


def assert_valid_models_list(obj: Any) -> None:
    assert_conforms(obj, "ListModelsResponse")


def assert_valid_embeddings(obj: Any) -> None:
    assert_conforms(obj, "CreateEmbeddingResponse")


def assert_valid_error(obj: Any) -> None:
    assert_conforms(obj, "ErrorResponse")
