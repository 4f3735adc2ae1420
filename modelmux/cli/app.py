"""The `modelmux` command: typer wiring only. Each command lives in its own module, imported lazily
so that `modelmux validate` (run by pre-commit on every commit) starts fast."""

from __future__ import annotations

import argparse
import os
import sys
from enum import StrEnum
from typing import Annotated, NoReturn

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


class ExplainFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
def explain(
    config: Annotated[str, typer.Argument(help="Config file.")],
    model: Annotated[str, typer.Option("--model", help="The model the request asks for.")],
    header: Annotated[
        list[str] | None, typer.Option("--header", help="A request header NAME=VALUE (repeatable).")
    ] = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", help="Request metadata NAME=VALUE (repeatable).")
    ] = None,
    stream: Annotated[bool, typer.Option("--stream", help="A streamed request.")] = False,
    region: Annotated[str | None, typer.Option("--region", help="The request's region (X-ModelMux-Region).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="The caller's user, as auth would set it.")] = None,
    org: Annotated[str | None, typer.Option("--org", help="The caller's org.")] = None,
    team: Annotated[str | None, typer.Option("--team", help="The caller's team.")] = None,
    role: Annotated[str | None, typer.Option("--role", help="The caller's role.")] = None,
    output: Annotated[ExplainFormat, typer.Option("--format", help="Output format.")] = ExplainFormat.text,
) -> None:
    """Show which rule and providers a request would get, and why. Exit 0 routed, 1 no candidate, 2 usage."""
    from modelmux.cli.explain import run_explain

    identity = {"user": user, "org": org, "team": team, "role": role}
    raise typer.Exit(
        run_explain(
            config,
            model=model,
            headers=header or [],
            metadata=metadata or [],
            stream=stream,
            region=region,
            identity=identity if any(identity.values()) else None,
            output=output.value,
        )
    )


from modelmux.cli.usage import usage_app  # noqa: E402  (the `usage` sub-app: report, forecast)

app.add_typer(usage_app, name="usage")

keys_app = typer.Typer(help="API keys for the `auth` section.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="The key's name (shown in logs and the audit log).")],
    role: Annotated[str | None, typer.Option("--role", help="The role to give the key.")] = None,
) -> None:
    """Print a new random key once, and the `auth.api_keys` entry (its sha256) to paste."""
    from modelmux.cli.keys import run_create

    sys.stdout.write(run_create(name, role))


audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(path: Annotated[str, typer.Argument(help="The audit log (JSON Lines).")]) -> None:
    """Check the hash chain. Exit 0 intact, 1 naming the first edited, removed or reordered entry."""
    from modelmux.cli.audit import run_verify

    raise typer.Exit(run_verify(path))


@audit_app.command("purge")
def audit_purge(
    path: Annotated[str, typer.Argument(help="The audit log (JSON Lines).")],
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Drop entries older than this duration (90d).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Remove this user's entries (erasure).")] = None,
) -> None:
    """Drop old entries or erase one user's, recording it in the chain. Exit 0 done, 1 failed, 2 usage."""
    from modelmux.cli.audit import run_purge

    raise typer.Exit(run_purge(path, older_than, user))


FAST_EXIT_COMMANDS = frozenset({"validate"})


class _NotFast(Exception):
    """The arguments need typer (help, or a usage error it words): take the ordinary path."""


class _Arguments(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _NotFast(message)


def _fast_validate(args: list[str]) -> int | None:
    """`validate` without building the typer app (about 50 ms of a 0.3 s run in pre-commit hooks): the
    same options as the `validate` command above. None when typer must handle the arguments."""
    if {"-h", "--help"} & set(args):
        return None
    parser = _Arguments(prog="modelmux validate", add_help=False)
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--format", choices=[f.value for f in ValidateFormat], default="text")
    parser.add_argument("--allow-missing-env", action="store_true")
    try:
        parsed = parser.parse_args(args)
    except _NotFast:
        return None
    from modelmux.cli.validate import run_validate

    return run_validate(
        parsed.configs, strict=parsed.strict, output=parsed.format, allow_missing_env=parsed.allow_missing_env
    )


def main() -> None:
    """The console script. `validate` runs in pre-commit hooks on every commit and holds no resources:
    it skips building the typer app when its arguments are plain, and leaves without the interpreter's
    teardown (about 70 ms)."""
    if sys.argv[1:2] == ["validate"]:
        code = _fast_validate(sys.argv[2:])
        if code is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    try:
        app()
    except SystemExit as exc:
        if sys.argv[1:2] and sys.argv[1] in FAST_EXIT_COMMANDS:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1))
        raise
