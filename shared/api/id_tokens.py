"""Verifying a Cognito ID token ourselves, where no API Gateway JWT authorizer does it for us (the
WebSocket API's `$connect`): the signature over the exact token with the user pool's key, the
issuer, the audience (our app client), the expiry, and `token_use: id`. Anything else fails closed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import jwt

from shared.logic.agent_actions import NotAuthenticatedError

KeyLookup = Callable[[str], Any]
"""The user pool's public key for a key id (`kid`), as PyJWT takes it; KeyError when unknown."""
LEEWAY_SECONDS = 30
"""Clock skew allowed on `exp`, `iat` and `nbf`."""


def verify_id_token(token: str, issuer: str, audience: str, keys: KeyLookup, now: datetime) -> dict[str, Any]:
    """The claims of a valid ID token of the user pool for our app client (NotAuthenticatedError
    with the reason otherwise)."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "RS256":
            raise NotAuthenticatedError("the token is not signed with RS256")
        key = keys(str(header.get("kid")))
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=audience,
            issuer=issuer,
            # the times are checked against our clock below (the simulator's is not the wall clock)
            options={
                "require": ["exp", "iat", "iss", "aud", "token_use"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except KeyError as exc:
        raise NotAuthenticatedError("the token is signed with a key the user pool does not have") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticatedError(f"the token is not valid: {exc}") from exc
    if claims.get("token_use") != "id":
        raise NotAuthenticatedError("sign in and send the ID token (token_use id)")
    moment = now.timestamp()
    if float(claims["exp"]) + LEEWAY_SECONDS < moment:
        raise NotAuthenticatedError("the token has expired")
    issued = max(float(claims["iat"]), float(claims.get("nbf", 0)))
    if issued - LEEWAY_SECONDS > moment:
        raise NotAuthenticatedError("the token is not valid yet")
    return claims


def key_set_lookup(jwks: dict[str, Any]) -> KeyLookup:
    """A lookup over a JWKS document already read (the simulator's local user pool)."""
    keys = {key.key_id: key.key for key in jwt.PyJWKSet.from_dict(jwks).keys}

    def lookup(kid: str) -> Any:
        return keys[kid]

    return lookup


@cache
def user_pool_keys(keys_url: str) -> KeyLookup:
    """The keys of the user pool published at `keys_url` (its JWKS, fetched once, cached by PyJWT);
    a `file:` URL is the simulator's local pool, read from disk."""
    if keys_url.startswith("file:"):
        return key_set_lookup(json.loads(Path(url2pathname(urlparse(keys_url).path)).read_text()))
    client = jwt.PyJWKClient(keys_url, cache_keys=True, lifespan=3600, timeout=5)

    def lookup(kid: str) -> Any:
        try:
            return client.get_signing_key(kid).key
        except jwt.PyJWKClientError as exc:
            raise KeyError(kid) from exc

    return lookup
