"""Pydantic field types for unit literals and names, shared by every config model."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from modelmux.units import UnitError, parse_duration, parse_money, parse_percent, parse_size


def _unit(parser: Any) -> Any:
    def validate(value: Any) -> Any:
        try:
            return parser(value)
        except UnitError as exc:
            raise ValueError(str(exc)) from None

    return BeforeValidator(validate)


def _schema(pattern: str, description: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": pattern, "description": description})


Duration = Annotated[
    float, _unit(parse_duration), _schema(r"^\d+(\.\d+)?(ms|s|m|h|d)$", "a duration: 250ms, 30s, 5m, 1h, 1d")
]
Size = Annotated[int, _unit(parse_size), _schema(r"^\d+(\.\d+)?(B|KB|MB|GB|KiB|MiB|GiB)$", "a size: 512KB, 10MB")]
Money = Annotated[Decimal, _unit(parse_money), _schema(r"^\$\d+(\.\d+)?$", "money: $1000 or $0.50")]
Percent = Annotated[
    float, _unit(parse_percent), Field(ge=0.0, le=10.0), _schema(r"^\d+(\.\d+)?%$", "a percentage: 80%")
]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-/]*$")]


class Section(BaseModel):
    """Base of every config model: unknown keys are errors, values are checked strictly."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
