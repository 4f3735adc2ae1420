"""`modelmux serve [CONFIG]`: compile the config, then serve it with Hypercorn (uvloop).

With no CONFIG: MODELMUX_CONFIG, then ./modelmux.yaml, then the bundled offline demo.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from importlib import resources
from pathlib import Path

from modelmux.cli.render import text_report
from modelmux.compiler.compile import CompileResult, compile_file
from modelmux.config.env import current_environment

log = logging.getLogger("modelmux.serve")


def bundled_demo() -> Path:
    packaged = resources.files("modelmux") / "_configs" / "demo.yaml"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def resolve_config(config: str | None, env: dict[str, str]) -> tuple[str, str]:
    """The config path and a phrase saying where it came from."""
    if config:
        return config, "the command line"
    if env.get("MODELMUX_CONFIG"):
        return env["MODELMUX_CONFIG"], "MODELMUX_CONFIG"
    if Path("modelmux.yaml").is_file():
        return "modelmux.yaml", "./modelmux.yaml"
    return str(bundled_demo()), "the bundled offline demo (mock providers only)"


def run_serve(config: str | None, host: str | None, port: int | None, workers: int | None, watch: bool | None) -> int:
    from modelmux.observability.logging import configure_logging, logging_section

    env = current_environment()
    path, origin = resolve_config(config, env)
    result = compile_file(path, env)
    if result.plan is None:
        sys.stderr.write(text_report(path, result) + "\n")
        return 1
    plan = result.plan
    configure_logging(logging_section(plan.sections.get("observability")))
    bind_host = host or plan.server.host
    bind_port = plan.server.port if port is None else port
    count = workers or plan.server.workers
    sys.stderr.write(
        f"modelmux: serving {path} (from {origin}), plan {plan.fingerprint}, "
        f"on http://{_url_host(bind_host)}:{bind_port} with {count} worker(s)\n"
    )
    config_obj = _hypercorn_config(bind_host, bind_port, plan.server.graceful_timeout)
    watching = plan.server.watch if watch is None else watch
    if count > 1:
        return _serve_workers(config_obj, path, count, watching)
    return _serve_single(config_obj, result, path, watching)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _hypercorn_config(host: str, port: int, graceful: float):  # type: ignore[no-untyped-def]
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{_url_host(host)}:{port}"]
    config.graceful_timeout = graceful
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    config.worker_class = "uvloop" if sys.platform != "win32" else "asyncio"
    return config


def _serve_single(config, result: CompileResult, path: str, watch: bool) -> int:  # type: ignore[no-untyped-def]
    from hypercorn.asyncio import serve

    from modelmux.runtime.app import create_app

    assert result.plan is not None
    app = create_app(result.plan, source=path, public=result.public, watch=watch)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        services = app.config["MODELMUX_SERVICES"]
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(services.reload()))
        await serve(app, config, shutdown_trigger=stop.wait)

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    return 0


def _serve_workers(config, path: str, count: int, watch: bool) -> int:  # type: ignore[no-untyped-def]
    from modelmux.runtime.supervisor import supervise

    os.environ["MODELMUX_SERVE_CONFIG"] = str(Path(path).resolve())
    os.environ["MODELMUX_WATCH"] = "1" if watch else "0"
    config.application_path = "modelmux.runtime.asgi:app"
    return supervise(config, count, os.environ)  # type: ignore[arg-type]
