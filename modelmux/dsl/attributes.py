"""Value types of the rule language and the request attributes a rule can read."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

# Value kinds. "integer" and "float" compare with each other (both are numbers); "any" is a metadata
# value whose type is only known at run time; "error" marks a node that already has a diagnostic.
UNIT_KINDS = ("duration", "size", "money", "percentage")
ORDERED_FAMILIES = frozenset({"number", *UNIT_KINDS})


@dataclass(frozen=True, slots=True)
class Type:
    kind: str
    nullable: bool = False
    item: Type | None = None

    @property
    def family(self) -> str:
        return "number" if self.kind in ("integer", "float") else self.kind

    @property
    def is_open(self) -> bool:
        """A value that type checking cannot judge (dynamic, or already reported)."""
        return self.kind in ("any", "error")

    @property
    def is_condition(self) -> bool:
        return self.kind in ("bool", "any", "error")

    def describe(self) -> str:
        if self.kind == "list" and self.item is not None and not self.item.is_open:
            return f"list of {plural(self.item)}"
        return {"float": "number", "any": "any value"}.get(self.kind, self.kind)


def plural(item: Type) -> str:
    name = item.describe()
    return name if name in ("money", "null") else name + "s"


STRING = Type("string")
BOOL = Type("bool")
INTEGER = Type("integer")
ANY = Type("any", nullable=True)
ERROR = Type("error", nullable=True)

KNOWN: Mapping[str, Type] = MappingProxyType(
    {
        "model": STRING,
        "stream": BOOL,
        "deterministic": BOOL,
        "temperature": Type("float", nullable=True),
        "max_tokens": Type("integer", nullable=True),
        "tools": INTEGER,
        "user": Type("string", nullable=True),
        "org": Type("string", nullable=True),
        "team": Type("string", nullable=True),
        "role": Type("string", nullable=True),
        "region": Type("string", nullable=True),
        "latency": Type("duration", nullable=True),
        "prompt_tokens": INTEGER,
        "prompt": STRING,
    }
)
HEADER = Type("string", nullable=True)
CONTAINERS = ("headers", "metadata")


def _type_name(type_: Type) -> str:
    name = {"integer": "int", "float": "float", "string": "string"}.get(type_.kind, type_.kind)
    return f"{name}|null" if type_.nullable else name


ATTRIBUTE_TYPES: Mapping[str, str] = MappingProxyType(
    {
        **{name: _type_name(type_) for name, type_ in KNOWN.items()},
        "headers": 'string|null (headers["x-name"])',
        "metadata": "any (metadata.NAME)",
    }
)

DECLARED_TYPES: Mapping[str, Type] = MappingProxyType(
    {
        "string": Type("string", nullable=True),
        "number": Type("float", nullable=True),
        "bool": Type("bool", nullable=True),
        "duration": Type("duration", nullable=True),
        "size": Type("size", nullable=True),
        "money": Type("money", nullable=True),
        "percentage": Type("percentage", nullable=True),
        "list": Type("list", nullable=True, item=ANY),
    }
)

KEYWORDS = ("and", "or", "not", "in", "matches", "contains", "starts_with", "true", "false", "null")


def declared_types(declared: Mapping[str, str] | None) -> dict[str, Type]:
    """Metadata names (with or without `metadata.`) to their types; unknown type names stay dynamic."""
    types: dict[str, Type] = {}
    for name, type_name in (declared or {}).items():
        key = name.removeprefix("metadata.")
        types[key] = DECLARED_TYPES.get(str(type_name).strip().lower(), ANY)
    return types


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f"did you mean `{matches[0]}`?" if matches else None
