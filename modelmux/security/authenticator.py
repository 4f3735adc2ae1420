"""Who is calling: a credential from the request headers, checked against the plan's API keys or JWT
settings, becomes an `Identity`; its role decides which models and endpoints it may use.

Credentials: `Authorization: Bearer KEY` (OpenAI), `api-key: KEY` (Azure) or `x-api-key: KEY`
(Anthropic). One `Authenticator` is built per plan (`authenticator_for`), so key digests are computed
and PEM keys parsed once, and the JWKS cache is shared by the `/v1` policies and `/admin`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelmux.errors import RequestError
from modelmux.plan.models import Plan
from modelmux.runtime.middleware.base import Identity

if TYPE_CHECKING:
    from modelmux.security.jwt import JwtVerifier
from modelmux.security.keys import KeyEntry, KeyTable, entry_from_section, mask
from modelmux.security.roles import RoleGrant, RoleTable, endpoint_name, model_allowed

CREDENTIAL_HEADERS = ("api-key", "x-api-key")
MISSING = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or in an api-key or x-api-key header."
)


def presented_credential(headers: Mapping[str, str]) -> str | None:
    """The credential a request carries (`headers` has lower-case names), or None."""
    authorization = headers.get("authorization", "").strip()
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for name in CREDENTIAL_HEADERS:
        found = headers.get(name, "").strip()
        if found:
            return found
    return None


def unauthenticated(message: str) -> RequestError:
    return RequestError(
        401,
        message,
        type="invalid_request_error",
        code="invalid_api_key",
        headers={"WWW-Authenticate": 'Bearer realm="modelmux"'},
    )


def forbidden(message: str) -> RequestError:
    return RequestError(403, message, type="permission_error", code="model_not_allowed")


def looks_like_jwt(value: str) -> bool:
    return value.startswith("eyJ") and value.count(".") == 2


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: the identity policies and rules read, and what its role grants."""

    identity: Identity
    grant: RoleGrant
    key_models: tuple[str, ...] | None = None

    def authorize(self, endpoint: str, model: str | None) -> None:
        """403 when the role (or the key's own `models`) does not allow this endpoint or model."""
        name = endpoint_name(endpoint)
        if name not in self.grant.endpoints:
            raise forbidden(f"This credential may not use the {name} endpoint.")
        if model is not None and not model_allowed(model, self.grant.models, self.key_models):
            raise forbidden(f"This credential does not have access to the model `{model[:200]}`.")


class Authenticator:
    def __init__(self, keys: KeyTable, roles: RoleTable, verifier: JwtVerifier | None) -> None:
        self.keys = keys
        self.roles = roles
        self.verifier = verifier

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> Authenticator:
        keys = KeyTable(entry_from_section(entry) for entry in section.get("api_keys") or ())
        jwt_section = section.get("jwt")
        verifier = None
        if jwt_section:
            from modelmux.security.jwt import JwtVerifier  # PyJWT and cryptography load only for JWT configs

            verifier = JwtVerifier.from_section(jwt_section)
        return cls(keys, RoleTable(section.get("roles") or {}), verifier)

    async def identify(self, headers: Mapping[str, str]) -> Caller:
        """The caller; 401 when the credential is missing or wrong."""
        presented = presented_credential(headers)
        if presented is None:
            raise unauthenticated(MISSING)
        if self.verifier is not None and looks_like_jwt(presented):
            return await self._from_token(presented)
        entry = self.keys.find(presented)
        if entry is None:
            raise unauthenticated(f"Incorrect API key provided: {mask(presented)}. Check the key you use.")
        return self._from_key(entry)

    def _from_key(self, entry: KeyEntry) -> Caller:
        role, grant = self.roles.grant([entry.role] if entry.role else [])
        identity = Identity(
            key_name=entry.name,
            user=entry.user,
            org=entry.org,
            team=entry.team,
            role=role,
            models=entry.models if entry.models is not None else grant.models,
            admin=grant.admin,
        )
        return Caller(identity, grant, entry.models)

    async def _from_token(self, token: str) -> Caller:
        assert self.verifier is not None
        from modelmux.security.jwt import TokenRejected

        try:
            claims = await self.verifier.verify(token)
        except TokenRejected as exc:
            raise unauthenticated(f"Invalid bearer token: {exc}.") from None
        role, grant = self.roles.grant(claims.roles)
        identity = Identity(
            user=claims.user, org=claims.org, team=claims.team, role=role, models=grant.models, admin=grant.admin
        )
        return Caller(identity, grant)


_CACHE: OrderedDict[str, Authenticator] = OrderedDict()
_CACHE_SIZE = 8


def authenticator_for(plan: Plan) -> Authenticator | None:
    """The plan's authenticator (None without an `auth` section), built once per plan fingerprint."""
    section = plan.sections.get("auth")
    if section is None:
        return None
    found = _CACHE.get(plan.fingerprint)
    if found is None:
        found = _CACHE[plan.fingerprint] = Authenticator.from_section(section)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return found
