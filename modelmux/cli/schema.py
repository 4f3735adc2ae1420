"""The config's JSON Schema, generated from the config models (schemas/modelmux.schema.json)."""

from __future__ import annotations

from typing import Any

import orjson

SCHEMA_ID = "https://modelmux.dev/schemas/modelmux.schema.json"


def config_schema() -> dict[str, Any]:
    from modelmux.config.models import Config

    schema = Config.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "ModelMux configuration",
        **schema,
    }


def schema_text() -> str:
    return orjson.dumps(config_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
