"""The ceiling of any Quart-on-Hypercorn gateway on this machine: a handler that returns a fixed body.

Run: .venv/bin/hypercorn --workers 2 --worker-class uvloop -b 127.0.0.1:9300 benchmarks.bare_quart:app
then wrk against it (see benchmarks/README.md).
"""

from __future__ import annotations

from quart import Quart, Response

from benchmarks.fake_upstream import COMPLETION

app = Quart("bare")


@app.post("/v1/chat/completions")
async def chat() -> Response:
    await app.ensure_async(lambda: None)()
    return Response(COMPLETION, content_type="application/json")
