"""schemas/modelmux.schema.json is generated from the config models; this keeps it in sync."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from modelmux.cli.schema import config_schema, schema_text

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schemas" / "modelmux.schema.json"


def test_schema_file_matches_the_config_models() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), "run `make schema` to regenerate the schema file"


def test_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(config_schema())


def test_demo_and_roadmap_configs_satisfy_the_schema() -> None:
    validator = Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    files = [
        ROOT / "configs" / "demo.yaml",
        *sorted((ROOT / "fixtures" / "configs" / "valid").glob("*.yaml")),
    ]
    for path in files:
        data = YAML(typ="safe").load(path.read_text())
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
        assert not errors, f"{path.name}: {errors}"


def test_schema_rejects_an_unknown_key_like_the_compiler() -> None:
    validator = Draft202012Validator(config_schema())
    data = {"providers": [{"name": "a", "type": "mock"}], "routng": {}}
    assert any("routng" in e.message for e in validator.iter_errors(data))


def test_schema_describes_unit_literals_as_strings() -> None:
    validator = Draft202012Validator(config_schema())
    good = {"providers": [{"name": "a", "type": "mock", "timeout": "30s"}]}
    bad = {"providers": [{"name": "a", "type": "mock", "timeout": "30 seconds"}]}
    assert not list(validator.iter_errors(good))
    assert list(validator.iter_errors(bad))
