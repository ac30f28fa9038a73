"""The simulator's user pool: agents' ID tokens signed with a key made for the run, and the keys
published where the live function reads them (a JWKS file, `TOKEN_KEYS_URL`), so `$connect` runs its
real verification on them."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_ID = "simulator-1"


class LocalUserPool:
    def __init__(self, issuer: str, audience: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._dir = tempfile.TemporaryDirectory(prefix="helpdesk-sim-pool-")
        jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": KEY_ID, "alg": "RS256", "use": "sig"})
        path = Path(self._dir.name) / "jwks.json"
        path.write_text(json.dumps({"keys": [jwk]}))
        self.keys_url = path.as_uri()

    def id_token(self, agent: str, groups: list[str], now: datetime) -> str:
        """A Cognito-shaped ID token of the agent, valid for an hour from `now`."""
        claims = {
            "sub": f"sim-{agent}",
            "iss": self.issuer,
            "aud": self.audience,
            "token_use": "id",
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(hours=1)).timestamp()),
            "custom:agent_id": agent,
            "cognito:groups": groups,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": KEY_ID})

    def close(self) -> None:
        self._dir.cleanup()
