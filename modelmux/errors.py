"""The exceptions ModelMux raises, in one tree.

    ModelMuxError
    ├── ConfigError                 a config did not load or compile; carries every Diagnostic
    │   └── ConfigLoadError         a file could not be read or is not YAML
    ├── RequestError                a client request is invalid (400-range, OpenAI error shape)
    └── GatewayError                an upstream attempt failed after routing (502/504 and friends)

Errors from dependencies are translated at the boundary (`raise ConfigLoadError(...) from exc`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelmux.config.diagnostics import Diagnostic


class ModelMuxError(Exception):
    """The root of every error ModelMux raises on purpose."""


class ConfigError(ModelMuxError):
    """A config that does not compile. `diagnostics` holds all of them, not only the first."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        first = diagnostics[0].headline() if diagnostics else "invalid config"
        super().__init__(first)


class ConfigLoadError(ConfigError):
    """A file that cannot be read, or that is not valid YAML."""


class RequestError(ModelMuxError):
    """A client request ModelMux refuses, with the status and OpenAI error fields to answer with."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class GatewayError(RequestError):
    """Every upstream attempt failed; the status says how (502 unreachable, 504 timed out...)."""
