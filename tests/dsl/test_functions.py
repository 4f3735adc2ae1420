"""The heuristics behind contains_code(prompt) and is_creative(prompt)."""

from __future__ import annotations

import pytest

from modelmux.dsl.functions import contains_code, is_creative

from .helpers import matches


@pytest.mark.parametrize(
    "text",
    [
        "Why does this fail?\n```\nprint(x)\n```",
        "def add(a, b):\n    return a + b\n\nclass Point:\n    pass",
        'int main() {\n  printf("hi");\n  return 0;\n}',
        "#include <stdio.h>\nint x = 1;",
        "import os\nimport sys",
        "function greet(name) {\n  console.log(name);\n}",
        "SELECT name FROM users\nWHERE id = 1;",
        "const x = 1;\nlet y = 2;",
    ],
)
def test_contains_code_spots_code(text: str) -> None:
    assert contains_code(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "What is the capital of France?",
        "Please select a dress from the shop and import it into my cart.",
        "I like classes; they are fun.",
        "Import duties went up. Functions of government were debated.",
        "One line that ends with a semicolon;",
    ],
)
def test_contains_code_ignores_prose(text: str) -> None:
    assert not contains_code(text)


@pytest.mark.parametrize(
    "text",
    [
        "Write a poem about the sea",
        "Tell me a story about dragons",
        "write a song for my sister",
        "Compose a haiku on autumn",
        "Imagine a world without cars",
        "Some song lyrics please",
        "A short piece of fiction set on Mars",
        "Be creative and invent a limerick",
    ],
)
def test_is_creative_spots_creative_requests(text: str) -> None:
    assert is_creative(text)


@pytest.mark.parametrize(
    "text",
    ["", "Summarize this quarterly report", "What is 2 + 2?", "Translate 'hello' into French"],
)
def test_is_creative_ignores_plain_requests(text: str) -> None:
    assert not is_creative(text)


def test_functions_are_available_in_rules() -> None:
    assert matches("contains_code(prompt)", prompt="```python\nx = 1\n```")
    assert matches("is_creative(prompt)", prompt="write me a poem")
    assert not matches("is_creative(prompt) or contains_code(prompt)", prompt="hello")
    assert matches("len(prompt) == 5", prompt="hello")
    assert matches('lower(prompt) contains "hello"', prompt="HeLLo there")


def test_contains_code_scans_a_long_prompt_quickly() -> None:
    import time

    text = "word " * 200_000
    start = time.perf_counter()
    assert not contains_code(text)
    assert time.perf_counter() - start < 0.5
