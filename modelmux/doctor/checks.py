"""The doctor's checks. Each returns `Check` lines: what was checked, the result, and a fix.

Checks do IO (files, sockets, environment); the compiler does none. Every network check is bounded
by a timeout and touches only what the config names.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from modelmux.compiler.compile import CompileResult
from modelmux.config.env import referenced_variables

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_PYTHON = (3, 11)
DEPENDENCIES = (
    ("pydantic", "2.7"),
    ("ruamel.yaml", "0.18"),
    ("lark", "1.2"),
    ("httpx", "0.27"),
    ("quart", "0.19"),
    ("hypercorn", "0.17"),
    ("google-auth", "2.29"),
)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def check_config(path: str, result: CompileResult) -> Iterator[Check]:
    if result.ok:
        warnings = f" ({len(result.warnings)} warnings)" if result.warnings else ""
        fingerprint = result.plan.fingerprint if result.plan else ""
        yield Check("config", OK, f"{path} compiles, plan {fingerprint}{warnings}")
        return
    first = result.errors[0].headline() if result.errors else "invalid"
    yield Check(
        "config", FAIL, f"{len(result.errors)} errors; first: {first}", f"run `modelmux validate {path}` and fix"
    )


def check_environment(data: Any, env: Mapping[str, str]) -> Iterator[Check]:
    names = sorted(referenced_variables(data))
    if not names:
        yield Check("environment", OK, "the config references no environment variables")
        return
    for name in names:
        if env.get(name):
            yield Check(f"env {name}", OK, "set")
        elif name in env:
            yield Check(f"env {name}", WARN, "set but empty", f"give {name} a value")
        else:
            yield Check(f"env {name}", FAIL, "not set", f"export {name}=... (or use ${{{name}:-default}})")


def check_vertex_credentials(providers: list[dict[str, Any]], base: Path) -> Iterator[Check]:
    for provider in providers:
        if provider.get("type") != "vertex_ai":
            continue
        name = f"vertex credentials ({provider['name']})"
        path = provider.get("credentials")
        if not path:
            yield Check(name, OK, "uses Application Default Credentials (gcloud, workload identity, metadata server)")
            continue
        file = (base / path) if not Path(path).is_absolute() else Path(path)
        yield _service_account(name, file)


def _service_account(name: str, file: Path) -> Check:
    try:
        info = json.loads(file.read_text())
    except FileNotFoundError:
        return Check(name, FAIL, f"{file} does not exist", "download a service-account key or fix the path")
    except (OSError, ValueError) as exc:
        return Check(name, FAIL, f"{file} is not readable JSON ({exc})", "re-download the key file")
    kind = info.get("type")
    if kind == "service_account":
        missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
        if missing:
            return Check(name, FAIL, f"service-account key lacks {', '.join(missing)}", "re-download the key file")
        if "BEGIN PRIVATE KEY" not in info["private_key"]:
            return Check(name, FAIL, "private_key is not a PEM key", "re-download the key file")
        return Check(name, OK, f"service account {info['client_email']}")
    if kind == "authorized_user":
        return Check(name, OK, "authorized-user credentials (gcloud auth application-default login)")
    return Check(name, FAIL, f"unknown credentials type {kind!r}", "use a service-account key JSON file")


def check_aws_credentials(providers: list[dict[str, Any]]) -> Iterator[Check]:
    bedrock = [p for p in providers if p.get("type") == "bedrock"]
    if not bedrock:
        return
    try:
        import botocore.session  # type: ignore[import-untyped]
    except ImportError:
        yield Check("aws credentials", FAIL, "botocore is not installed", "pip install botocore")
        return
    for provider in bedrock:
        explicit = provider.get("credentials") or {}
        session = botocore.session.Session(profile=explicit.get("profile"))
        name = f"aws credentials ({provider['name']})"
        if explicit.get("access_key_id") and explicit.get("secret_access_key"):
            yield Check(name, OK, "static keys from the config")
            continue
        try:
            found = session.get_credentials()
        except Exception as exc:  # botocore raises many kinds; the doctor reports, never crashes
            yield Check(name, FAIL, f"credential chain failed: {exc}", "check AWS_PROFILE and ~/.aws/credentials")
            continue
        if found is None:
            yield Check(
                name,
                FAIL,
                "no AWS credentials found in env, profile, web identity or instance metadata",
                "export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or set AWS_PROFILE",
            )
        else:
            yield Check(name, OK, f"resolved by the {found.method} provider")


def check_redis(url: str | None, timeout: float) -> Iterator[Check]:
    if url is None:
        return
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
    reply = _exchange(host, port, b"PING\r\n", timeout)
    if reply is None:
        yield Check("redis", FAIL, f"cannot connect to {host}:{port}", "start redis-server or fix caching.url")
    elif reply.startswith(b"+PONG"):
        yield Check("redis", OK, f"{host}:{port} answers PING")
    elif reply.startswith(b"-NOAUTH"):
        yield Check("redis", WARN, f"{host}:{port} needs a password", "put it in the URL: redis://:PASSWORD@host")
    else:
        yield Check("redis", FAIL, f"{host}:{port} answered {reply[:40]!r}", "is this a Redis server?")


def check_database(storage: str | None, base: Path, timeout: float) -> Iterator[Check]:
    if storage is None:
        return
    if storage.startswith("sqlite:///"):
        file = Path(storage[len("sqlite:///") :])
        folder = (file if file.is_absolute() else base / file).parent
        if folder.is_dir():
            yield Check("usage ledger", OK, f"sqlite folder {folder} exists")
        else:
            yield Check("usage ledger", FAIL, f"folder {folder} does not exist", f"mkdir -p {folder}")
        return
    parsed = urlparse(storage)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 5432
    if _exchange(host, port, b"", timeout) is None:
        yield Check("usage ledger", FAIL, f"cannot connect to PostgreSQL at {host}:{port}", "start it or fix storage")
    else:
        yield Check("usage ledger", OK, f"PostgreSQL at {host}:{port} accepts connections")


def check_port(host: str, port: int) -> Iterator[Check]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            yield Check(
                "listen port",
                FAIL,
                f"{host}:{port} is not free ({exc.strerror})",
                "stop what listens there, or pass --port / set server.port",
            )
            return
    yield Check("listen port", OK, f"{host}:{port} is free")


def check_python() -> Iterator[Check]:
    version = sys.version_info
    shown = f"{version.major}.{version.minor}.{version.micro}"
    if version[:2] < MIN_PYTHON:
        yield Check("python", FAIL, f"Python {shown}", "ModelMux needs Python 3.11 or newer")
    else:
        yield Check("python", OK, f"Python {shown}")
    for package, minimum in DEPENDENCIES:
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            yield Check(f"package {package}", FAIL, "not installed", f"pip install '{package}>={minimum}'")
            continue
        if _version_tuple(installed) < _version_tuple(minimum):
            yield Check(
                f"package {package}", FAIL, f"{installed} < {minimum}", f"pip install -U '{package}>={minimum}'"
            )
        else:
            yield Check(f"package {package}", OK, installed)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _exchange(host: str, port: int, payload: bytes, timeout: float) -> bytes | None:
    """Connect, send `payload`, read a reply (b"" when nothing was sent). None when unreachable."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if not payload:
                return b""
            sock.sendall(payload)
            return sock.recv(256)
    except OSError:
        return None
