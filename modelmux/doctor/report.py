"""Runs the doctor's checks for one config and renders them as a table with a fix per failure."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from modelmux.cli.serve import resolve_config
from modelmux.compiler.compile import compile_file
from modelmux.config.env import current_environment
from modelmux.doctor.checks import (
    FAIL,
    OK,
    WARN,
    Check,
    check_aws_credentials,
    check_config,
    check_database,
    check_environment,
    check_port,
    check_python,
    check_redis,
    check_vertex_credentials,
)

SYMBOLS = {OK: "[green]ok[/]", WARN: "[yellow]warn[/]", FAIL: "[red]FAIL[/]"}


def collect(config: str | None, *, online: bool, timeout: float, port: int | None = None) -> list[Check]:
    env = current_environment()
    path, _ = resolve_config(config, env)
    result = compile_file(path, env)
    checks = list(check_config(path, result))
    checks += check_environment(result.loaded.data, env)
    base = Path(path).resolve().parent
    providers = [p for p in result.loaded.data.get("providers", []) if isinstance(p, dict) and "name" in p]
    checks += check_vertex_credentials(providers, base)
    checks += check_aws_credentials(providers)
    plan = result.plan
    if plan is not None:
        if plan.caching is not None and plan.caching.backend == "redis" and plan.caching.url is not None:
            checks += check_redis(plan.caching.url.reveal(), timeout)
        storage = _ledger_storage(plan.sections.get("analytics"))
        checks += check_database(storage, base, timeout)
        checks += check_port(plan.server.host, plan.server.port if port is None else port)
    checks += check_python()
    if online and plan is not None:
        from modelmux.doctor.online import run_probes

        checks += run_probes(plan, timeout)
    return checks


def _ledger_storage(analytics: object) -> str | None:
    if not isinstance(analytics, dict) and not hasattr(analytics, "get"):
        return None
    tracking = analytics.get("cost_tracking")
    if tracking is None or not tracking.get("enabled", True):
        return None
    storage = tracking.get("storage")
    return str(storage) if storage else None


def render(checks: Iterable[Check]) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="modelmux doctor", show_lines=False)
    for column in ("check", "result", "detail", "fix"):
        table.add_column(column)
    worst = OK
    for check in checks:
        table.add_row(check.name, SYMBOLS[check.status], check.detail, check.fix)
        if check.status == FAIL:
            worst = FAIL
    Console(width=160).print(table)
    return 1 if worst == FAIL else 0


def run_doctor(config: str | None, *, online: bool, timeout: float, port: int | None) -> int:
    return render(collect(config, online=online, timeout=timeout, port=port))
