"""JWT bearer tokens: signature, algorithm, issuer, audience and time checks, then claims to identity.

Only the asymmetric algorithms the config lists are accepted: `alg: none` and every HS* algorithm are
refused before any key is looked at, so a public key can never be used as an HMAC secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidTokenError,
    MissingRequiredClaimError,
    PyJWTError,
)

from modelmux.security.jwks import JwksKeys, StaticKeys, VerificationKey

ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"})


class KeySource(Protocol):
    async def key_for(self, kid: str | None) -> VerificationKey | None: ...


class TokenRejected(Exception):
    """A token that does not verify; the message names why, never the token."""


@dataclass(frozen=True, slots=True)
class ClaimNames:
    user: str = "sub"
    org: str | None = None
    team: str | None = None
    roles: str | None = None


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user: str | None
    org: str | None
    team: str | None
    roles: tuple[str, ...]


class JwtVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        algorithms: tuple[str, ...],
        issuer: str | None = None,
        audience: str | tuple[str, ...] | None = None,
        leeway: float = 30.0,
        claims: ClaimNames = ClaimNames(),
    ) -> None:
        self.keys = keys
        self.algorithms = tuple(a for a in algorithms if a in ASYMMETRIC)
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.claims = claims

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> JwtVerifier:
        url = section.get("jwks_url")
        keys: KeySource = JwksKeys(str(url)) if url else StaticKeys(str(section["public_key"]))
        audience = section.get("audience")
        names = section.get("claims") or {}
        return cls(
            keys,
            algorithms=tuple(section.get("algorithms") or ("RS256", "ES256", "EdDSA")),
            issuer=section.get("issuer"),
            audience=tuple(audience) if isinstance(audience, list | tuple) else audience,
            leeway=float(section.get("leeway", 30.0)),
            claims=ClaimNames(
                user=names.get("user") or "sub", org=names.get("org"), team=names.get("team"), roles=names.get("roles")
            ),
        )

    async def verify(self, token: str) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError:
            raise TokenRejected("the token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise TokenRejected(f"the token's algorithm {str(algorithm)[:16]!r} is not accepted")
        kid = header.get("kid")
        found = await self.keys.key_for(kid if isinstance(kid, str) else None)
        if found is None:
            raise TokenRejected("no known key signed this token")
        if found.algorithm is not None and found.algorithm != algorithm:
            raise TokenRejected("the token's algorithm does not match its key")
        payload = self._decode(token, found, algorithm)
        return self._claims(payload)

    def _decode(self, token: str, found: VerificationKey, algorithm: str) -> dict[str, Any]:
        options: dict[str, Any] = {
            "require": ["exp"],
            "verify_aud": self.audience is not None,
            "enforce_minimum_key_length": True,
        }
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                found.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options=options,  # type: ignore[arg-type]
            )
        except ExpiredSignatureError:
            raise TokenRejected("the token has expired") from None
        except ImmatureSignatureError:
            raise TokenRejected("the token is not valid yet") from None
        except InvalidIssuerError:
            raise TokenRejected("the token's issuer is not accepted") from None
        except InvalidAudienceError:
            raise TokenRejected("the token's audience is not accepted") from None
        except MissingRequiredClaimError as exc:
            raise TokenRejected(f"the token lacks the {exc.claim!r} claim") from None
        except (PyJWTError, ValueError, TypeError):  # a bad signature, a key too short, a malformed token
            raise TokenRejected("the token's signature does not verify") from None
        return payload

    def _claims(self, payload: Mapping[str, Any]) -> TokenClaims:
        names = self.claims
        roles = claim(payload, names.roles) if names.roles else None
        if isinstance(roles, str):
            role_list = tuple(roles.replace(",", " ").split())
        elif isinstance(roles, list):
            role_list = tuple(str(r) for r in roles if isinstance(r, str | int))
        else:
            role_list = ()
        return TokenClaims(
            user=_text(claim(payload, names.user)),
            org=_text(claim(payload, names.org)) if names.org else None,
            team=_text(claim(payload, names.team)) if names.team else None,
            roles=role_list,
        )


def claim(payload: Mapping[str, Any], name: str) -> Any:
    """A claim by its exact name (namespaced URL claims), else by a dotted path into nested objects."""
    if name in payload:
        return payload[name]
    value: Any = payload
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return None
