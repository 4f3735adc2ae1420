"""`modelmux reload [--url URL] [--token T]`: ask a running server to reload its config.

Prints the plan diff summary and the new fingerprint; exits 1 and prints the diagnostics when the
new config does not compile (the server keeps its running plan), 2 when the server cannot be reached.
"""

from __future__ import annotations

import sys

import httpx

DEFAULT_URL = "http://127.0.0.1:3000"


def run_reload(url: str, token: str | None, timeout: float) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    endpoint = url.rstrip("/") + "/admin/reload"
    try:
        response = httpx.post(endpoint, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        sys.stderr.write(f"modelmux reload: cannot reach {endpoint}: {exc}\n")
        return 2
    try:
        body = response.json()
    except ValueError:
        sys.stderr.write(f"modelmux reload: {endpoint} answered {response.status_code} with no JSON\n")
        return 2
    if "error" in body:
        sys.stderr.write(f"modelmux reload: {response.status_code}: {body['error'].get('message')}\n")
        return 2
    if not body.get("ok"):
        sys.stderr.write("\n\n".join(body.get("diagnostics", [])) + "\n")
        kept = f"plan {body.get('fingerprint')} (generation {body.get('generation')})"
        sys.stderr.write(f"reload failed: the server keeps {kept}\n")
        return 1
    previous = body.get("previous_fingerprint")
    changes = body.get("changes") or "no changes"
    generation = body.get("generation")
    sys.stdout.write(f"reloaded: plan {previous} -> {body.get('fingerprint')} (generation {generation}): {changes}\n")
    return 0
