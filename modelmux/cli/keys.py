"""`modelmux keys create NAME [--role ROLE]`: a new API key, printed once, and the config lines to paste.

Only the key's sha256 goes into the config; the key itself is shown here and nowhere else.
"""

from __future__ import annotations

from modelmux.security.keys import new_key, sha256_hex


def create_key(name: str, role: str | None = None) -> tuple[str, str]:
    """(the key, the YAML lines of its `auth.api_keys` entry)."""
    key = new_key()
    lines = [f"- name: {name}", f"  key_sha256: {sha256_hex(key)}"]
    if role:
        lines.append(f"  role: {role}")
    return key, "\n".join(lines)


def run_create(name: str, role: str | None) -> str:
    key, entry = create_key(name, role)
    return (
        f"API key for {name} (shown once; store it now):\n\n    {key}\n\n"
        f"Add this entry under `auth.api_keys` in your config:\n\n{entry}\n"
    )
