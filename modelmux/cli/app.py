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

    raise typer.Exit(
        run_validate(configs, strict=strict, output=output.value, allow_missing_env=allow_missing_env)
    )


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
    host: Annotated[
        str | None, typer.Option("--host", help="Listen address (overrides server.host).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen port (overrides server.port).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Worker processes.")] = None,
    watch: Annotated[
        bool | None, typer.Option("--watch/--no-watch", help="Reload when the config changes.")
    ] = None,
) -> None:
    """Serve the OpenAI-compatible gateway."""
    from modelmux.cli.serve import run_serve

    raise typer.Exit(run_serve(config, host, port, workers, watch))


def main() -> None:
    app()
