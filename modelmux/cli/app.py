"""The `modelmux` command: typer wiring only. Each command lives in its own module, imported lazily
so that `modelmux validate` (run by pre-commit on every commit) starts fast."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from modelmux import __version__

app = typer.Typer(
    name="modelmux",
    help="ModelMux: an LLM gateway with a compiled, validated YAML config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class ValidateFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"


class PlanFormat(StrEnum):
    text = "text"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelmux {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """ModelMux command line."""


@app.command()
def validate(
    configs: Annotated[list[str], typer.Argument(help="Config files to check.")],
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    output: Annotated[ValidateFormat, typer.Option("--format", help="Output format.")] = ValidateFormat.text,
    allow_missing_env: Annotated[
        bool,
        typer.Option("--allow-missing-env", help="Report unset ${VARS} as warnings (CI without secrets)."),
    ] = False,
) -> None:
    """Check configs offline with the same compiler that serve uses. Exit 0 valid, 1 invalid."""
    from modelmux.cli.validate import run_validate

    raise typer.Exit(run_validate(configs, strict=strict, output=output.value, allow_missing_env=allow_missing_env))


@app.command()
def plan(
    config: Annotated[str, typer.Argument(help="Config file.")],
    output: Annotated[PlanFormat, typer.Option("--format", help="Output format.")] = PlanFormat.text,
) -> None:
    """Print the compiled plan (secrets shown as ${VAR} or ***)."""
    from modelmux.cli.plan import run_plan

    raise typer.Exit(run_plan(config, output=output.value))


@app.command()
def schema() -> None:
    """Print the config's JSON Schema (what schemas/modelmux.schema.json holds)."""
    from modelmux.cli.schema import schema_text

    sys.stdout.write(schema_text())


@app.command()
def serve(
    config: Annotated[
        str | None, typer.Argument(help="Config file (default: $MODELMUX_CONFIG, ./modelmux.yaml, demo).")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Listen address (overrides server.host).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen port (overrides server.port).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Worker processes.")] = None,
    watch: Annotated[bool | None, typer.Option("--watch/--no-watch", help="Reload when the config changes.")] = None,
) -> None:
    """Serve the OpenAI-compatible gateway."""
    from modelmux.cli.serve import run_serve

    raise typer.Exit(run_serve(config, host, port, workers, watch))


class DiffFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="The config before the change.")],
    new: Annotated[str, typer.Argument(help="The config after the change.")],
    output: Annotated[DiffFormat, typer.Option("--format", help="Output format.")] = DiffFormat.text,
    allow_missing_env: Annotated[
        bool, typer.Option("--allow-missing-env", help="Unset ${VARS} are warnings (CI without secrets).")
    ] = False,
) -> None:
    """Semantic diff of two configs' plans. Exit 0 equal, 1 different, 2 when either does not compile."""
    from modelmux.cli.diff import run_diff

    raise typer.Exit(run_diff(old, new, output=output.value, allow_missing_env=allow_missing_env))


@app.command()
def reload(
    url: Annotated[str, typer.Option("--url", help="The server's base URL.")] = "http://127.0.0.1:3000",
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="MODELMUX_ADMIN_TOKEN", help="Admin token, if the server has one."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the server.")] = 30.0,
) -> None:
    """Ask a running server to recompile and swap in its config. Exit 1 when the new config is invalid."""
    from modelmux.cli.reload import run_reload

    raise typer.Exit(run_reload(url, token, timeout))


@app.command()
def doctor(
    config: Annotated[str | None, typer.Argument(help="Config file (default: as `serve` finds one).")] = None,
    online: Annotated[bool, typer.Option("--online", help="Probe each provider's endpoint and key.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per network check.")] = 5.0,
    port: Annotated[int | None, typer.Option("--port", help="The port serve will use.")] = None,
) -> None:
    """Check a setup: config, environment, credentials, Redis/database, listen port, Python. Exit 1 on failure."""
    from modelmux.doctor.report import run_doctor

    raise typer.Exit(run_doctor(config, online=online, timeout=timeout, port=port))


def main() -> None:
    app()
