"""A semantic diff of two compiled configs: what a reviewer needs in a pull request.

Lists of named entries (providers, api keys, pipelines, experiments) are matched by name, so a
reordering is not a change; routing rules are compared by position, since order is meaning.
Secrets are compared by their `${VAR}` reference, never by value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NAMED_LISTS = frozenset({"providers", "api_keys", "pipelines", "experiments", "plugins", "variants"})


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # "added", "removed", "changed"
    section: str
    path: str
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "section": self.section,
            "path": self.path,
            "old": self.old,
            "new": self.new,
        }


@dataclass
class PlanDiff:
    old_fingerprint: str
    new_fingerprint: str
    changes: list[Change] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.changes

    def sections(self) -> dict[str, list[Change]]:
        grouped: dict[str, list[Change]] = {}
        for change in self.changes:
            grouped.setdefault(change.section, []).append(change)
        return grouped


def diff_configs(old: dict[str, Any], new: dict[str, Any], old_fp: str, new_fp: str) -> PlanDiff:
    result = PlanDiff(old_fp, new_fp)
    for key in sorted(set(old) | set(new)):
        _walk(old.get(key), new.get(key), key, key, result.changes)
    return result


def _walk(old: Any, new: Any, section: str, path: str, out: list[Change]) -> None:
    if old == new:
        return
    if old is None:
        out.append(Change("added", section, path, None, new))
        return
    if new is None:
        out.append(Change("removed", section, path, old, None))
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            _walk(old.get(key), new.get(key), section, f"{path}.{key}", out)
        return
    if isinstance(old, list) and isinstance(new, list) and _named(path, old, new):
        _walk_named(old, new, section, path, out)
        return
    if isinstance(old, list) and isinstance(new, list) and path.endswith("rules"):
        for index in range(max(len(old), len(new))):
            before = old[index] if index < len(old) else None
            after = new[index] if index < len(new) else None
            _walk(before, after, section, f"{path}[{index + 1}]", out)
        return
    out.append(Change("changed", section, path, old, new))


def _named(path: str, old: list[Any], new: list[Any]) -> bool:
    last = path.rsplit(".", 1)[-1]
    items = old + new
    return last in NAMED_LISTS and all(isinstance(i, dict) and "name" in i for i in items)


def _walk_named(
    old: list[dict[str, Any]], new: list[dict[str, Any]], section: str, path: str, out: list[Change]
) -> None:
    before = {item["name"]: item for item in old}
    after = {item["name"]: item for item in new}
    for name in list(before) + [n for n in after if n not in before]:
        _walk(before.get(name), after.get(name), section, f"{path}[{name}]", out)


def render_text(diff: PlanDiff) -> str:
    if diff.equal:
        return f"no changes (plan {diff.old_fingerprint})"
    lines = [f"plan {diff.old_fingerprint} -> {diff.new_fingerprint}: {_count(len(diff.changes))}"]
    for section, changes in diff.sections().items():
        lines.append(f"{section}:")
        lines.extend(f"  {_line(change)}" for change in changes)
    return "\n".join(lines)


def render_markdown(diff: PlanDiff) -> str:
    if diff.equal:
        return f"**ModelMux plan unchanged** (`{diff.old_fingerprint}`)"
    lines = [
        f"### ModelMux plan `{diff.old_fingerprint}` → `{diff.new_fingerprint}` ({_count(len(diff.changes))})",
        "",
    ]
    for section, changes in diff.sections().items():
        lines += [f"**{section}**", "", "| | what | before | after |", "| --- | --- | --- | --- |"]
        for change in changes:
            mark = {"added": "added", "removed": "removed", "changed": "changed"}[change.kind]
            lines.append(f"| {mark} | `{change.path}` | {_cell(change.old)} | {_cell(change.new)} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_json(diff: PlanDiff) -> dict[str, Any]:
    return {
        "equal": diff.equal,
        "old_fingerprint": diff.old_fingerprint,
        "new_fingerprint": diff.new_fingerprint,
        "changes": [c.to_json() for c in diff.changes],
    }


def summary(diff: PlanDiff) -> str:
    """One line for `modelmux reload`: counts by kind and the sections touched."""
    if diff.equal:
        return "no changes"
    counts = {kind: sum(1 for c in diff.changes if c.kind == kind) for kind in ("added", "removed", "changed")}
    parts = [f"{n} {kind}" for kind, n in counts.items() if n]
    return f"{', '.join(parts)} in {', '.join(diff.sections())}"


def _line(change: Change) -> str:
    if change.kind == "added":
        return f"+ {change.path}: {_short(change.new)}"
    if change.kind == "removed":
        return f"- {change.path}: {_short(change.old)}"
    return f"~ {change.path}: {_short(change.old)} -> {_short(change.new)}"


def _short(value: Any) -> str:
    if isinstance(value, dict):
        if value.get("name") and "if" not in value:
            kind = f" ({value['type']})" if "type" in value else ""
            return f"{value['name']}{kind}"
        if "if" in value:
            target = value.get("provider") or value.get("providers") or value.get("model")
            return f"if {value['if']} -> {target}"
        if value.get("name"):
            return str(value["name"])
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _cell(value: Any) -> str:
    return "" if value is None else f"`{_short(value)}`".replace("|", "\\|")


def _count(n: int) -> str:
    return f"{n} change" + ("" if n == 1 else "s")
