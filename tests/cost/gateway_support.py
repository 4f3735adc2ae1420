"""Helpers for the cost tests that run the whole gateway: the config, and the ledger rows it wrote."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from modelmux.cost.ledger import COLUMNS, sqlite_path
from modelmux.cost.pricing import from_pico

CHAT = "/v1/chat/completions"
CONFIG = """
version: 1
providers:
  - name: openai-main
    type: openai
    api_key: ${{TEST_API_KEY}}
    base_url: ${{UPSTREAM_URL}}/v1
    models:
      gpt-4o: gpt-4o-2024-08-06
      gpt-4o-mini: gpt-4o-mini
      text-embedding-3-small: text-embedding-3-small
  - name: claude
    type: anthropic
    api_key: ${{TEST_API_KEY}}
    base_url: ${{UPSTREAM_URL}}
    models:
      claude-sonnet: claude-3-5-sonnet-20241022
analytics:
  cost_tracking:
    storage: ${{LEDGER_URL}}
{extra}
"""


def config(extra: str = "") -> str:
    return CONFIG.format(extra=extra)


def ledger_rows(storage: str, folder: Path) -> list[dict[str, Any]]:
    """Every ledger row, oldest first, with `cost` in dollars."""
    sql = f"SELECT {', '.join(COLUMNS)} FROM usage ORDER BY id"
    if storage.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(storage, str(folder))) as conn:
            found = conn.execute(sql).fetchall()
    else:
        with psycopg.connect(storage) as conn:
            found = conn.execute(sql).fetchall()
    rows = []
    for values in found:
        row = dict(zip(COLUMNS, values, strict=True))
        row["cost"] = from_pico(row.pop("cost_pico"))
        row["stream"] = bool(row["stream"])
        rows.append(row)
    return rows


def total_cost(rows: list[dict[str, Any]]) -> Decimal:
    return sum((row["cost"] for row in rows), Decimal(0))
