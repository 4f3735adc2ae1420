"""Maps a character offset inside a YAML scalar's value to its line and column in the file.

A rule's text reaches the compiler decoded: quotes removed, escapes resolved, lines folded. To put a
caret under the right character, the decoding is replayed over the raw source lines, recording where
each decoded character came from. Plain, single-quoted, double-quoted, literal (`|`) and folded (`>`)
scalars are handled, on one line or several.
"""

from __future__ import annotations

from collections.abc import Sequence

Position = tuple[int, int]  # 1-based line and column

SIMPLE_ESCAPES = frozenset('0abtnvfre "/\\N_LP\t')
HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def scalar_positions(lines: Sequence[str], line: int, column: int, style: str | None) -> list[Position]:
    """Where each decoded character of the scalar starting at (line, column) was written, followed by
    one more position: just past the last character (the closing quote of a quoted scalar)."""
    if style in ("|", ">"):
        found = _block(lines, line, style)
    elif style == '"':
        return _quoted(lines, line, column, double=True)
    elif style == "'":
        return _quoted(lines, line, column, double=False)
    else:
        found = _plain(lines, line, column)
    if found:
        found.append((found[-1][0], found[-1][1] + 1))
    return found


def _plain(lines: Sequence[str], line: int, column: int) -> list[Position]:
    out: list[Position] = []
    index, start = line - 1, column - 1
    while index < len(lines):
        text = lines[index]
        body = _strip_comment(text[start:]).rstrip()
        if index != line - 1:
            stripped = body.lstrip()
            if not stripped or _ends_scalar(stripped):
                break
            start += len(body) - len(stripped)
            body = stripped
            out.append(out[-1] if out else (index + 1, start + 1))
        out.extend((index + 1, start + 1 + i) for i in range(len(body)))
        index += 1
        start = 0
    return out


def _ends_scalar(text: str) -> bool:
    return text.startswith(("- ", "#")) or (": " in text and not text.startswith(("'", '"'))) or text.endswith(":")


def _strip_comment(text: str) -> str:
    position = text.find(" #")
    return text if position < 0 else text[:position]


def _quoted(lines: Sequence[str], line: int, column: int, *, double: bool) -> list[Position]:
    out: list[Position] = []
    index, col = line - 1, column  # column points at the opening quote; content starts after it
    quote = '"' if double else "'"
    while index < len(lines):
        text = lines[index]
        while col < len(text):
            char = text[col]
            if char == quote:
                if not double and col + 1 < len(text) and text[col + 1] == "'":
                    out.append((index + 1, col + 1))
                    col += 2
                    continue
                out.append((index + 1, col + 1))
                return out
            if double and char == "\\" and col + 1 < len(text):
                out.append((index + 1, col + 1))
                col += 2 + HEX_ESCAPES.get(text[col + 1], 0)
                continue
            out.append((index + 1, col + 1))
            col += 1
        index += 1
        if index < len(lines):
            stripped = lines[index].lstrip()
            col = len(lines[index]) - len(stripped)
            out.append(out[-1] if out else (index + 1, col + 1))
    if out:
        out.append((out[-1][0], out[-1][1] + 1))
    return out


def _block(lines: Sequence[str], line: int, style: str) -> list[Position]:
    out: list[Position] = []
    index = line  # the indicator's line; content starts on the next one
    indent: int | None = None
    while index < len(lines):
        text = lines[index]
        if text.strip():
            current = len(text) - len(text.lstrip())
            if indent is None:
                indent = current
            elif current < indent:
                break
        if out:
            out.append(out[-1])  # the line break (or the space it folds into)
        content = text[indent or 0 :] if text.strip() else ""
        out.extend((index + 1, (indent or 0) + 1 + i) for i in range(len(content)))
        index += 1
    return out
