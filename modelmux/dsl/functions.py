"""The rule language's functions: their signatures for the type checker and their code for the runtime."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from modelmux.dsl.attributes import BOOL, Type

_CODE_FENCE = "```"
_CODE_LINE = re.compile(
    r"""^[ \t]*(?:def[ \t]+\w+[ \t]*\(|class[ \t]+\w+|function\b[ \t]*\w*[ \t]*\(|import[ \t]+[\w.]+
    |from[ \t]+[\w.]+[ \t]+import\b|\#include\b|[{}][ \t]*$|(?:const|let|var)[ \t]+\w+[ \t]*=)
    |;[ \t]*$|\{[ \t]*$|\bSELECT\b.+\bFROM\b""",
    re.MULTILINE | re.VERBOSE,
)
_CODE_LINES_NEEDED = 2
_CREATIVE = re.compile(
    r"\b(?:poems?|poetry|stor(?:y|ies)|write\s+a\s+song|songs?|lyrics|creative(?:ly)?|imagine|fiction(?:al)?"
    r"|haikus?|sonnets?|limericks?|rhym(?:e|es|ing)|fairy[\s-]tales?|fables?|screenplay|verses?)\b",
    re.IGNORECASE,
)


def contains_code(text: str) -> bool:
    """A heuristic: a code fence, or two or more lines that look like source code."""
    if _CODE_FENCE in text:
        return True
    lines: set[int] = set()
    for match in _CODE_LINE.finditer(text):
        lines.add(text.rfind("\n", 0, match.start()))
        if len(lines) >= _CODE_LINES_NEEDED:
            return True
    return False


def is_creative(text: str) -> bool:
    """A heuristic: the prompt asks for a poem, a story, lyrics or other creative writing."""
    return _CREATIVE.search(text) is not None


def _length(value: object) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


def _lower(value: object) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _text_test(test: Callable[[str], bool]) -> Callable[[object], object]:
    return lambda value: isinstance(value, str) and test(value)


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    accepts: tuple[str, ...]  # value kinds of the one argument
    needs: str  # the argument as a message says it, e.g. "text or a list"
    result: Callable[[Type], Type]  # result type from the argument type
    run: Callable[[object], object]  # never raises, whatever the argument

    @property
    def example(self) -> str:
        return f"{self.name}(prompt)"


FUNCTIONS: dict[str, Function] = {
    "contains_code": Function("contains_code", ("string",), "text", lambda _: BOOL, _text_test(contains_code)),
    "is_creative": Function("is_creative", ("string",), "text", lambda _: BOOL, _text_test(is_creative)),
    "len": Function(
        "len",
        ("string", "list"),
        "text or a list",
        lambda arg: Type("integer", nullable=arg.nullable) if arg.kind != "error" else arg,
        _length,
    ),
    "lower": Function(
        "lower",
        ("string",),
        "text",
        lambda arg: Type("string", nullable=arg.nullable) if arg.kind != "error" else arg,
        _lower,
    ),
}
