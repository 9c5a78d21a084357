"""A real HTTP server that publishes a JSON Web Key Set, and keys to sign tokens with (tests
import it by name: tests/ has no packages)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass
class Key:
    kid: str
    algorithm: str  # RS256 | ES256
    private: Any

    @classmethod
    def new(cls, kid: str, algorithm: str = "RS256") -> Key:
        private = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
                   if algorithm == "RS256" else ec.generate_private_key(ec.SECP256R1()))
        return cls(kid, algorithm, private)

    def public_pem(self) -> str:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def jwk(self) -> dict[str, Any]:
        algo = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        data = json.loads(algo.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def sign(self, claims: dict[str, Any] | None = None, **changes: Any) -> str:
        now = int(time.time())
        body = {"sub": "amara", "iat": now, "exp": now + 600, **(claims or {}), **changes}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.private, algorithm=self.algorithm,
                          headers={"kid": self.kid})


@dataclass
class JWKSServer:
    """Serves ``keys`` at ``/.well-known/jwks.json`` and counts the fetches. ``hang()`` makes
    every request wait (counted in ``started`` as it arrives) until ``release()``, then answer
    503: an identity provider that stalls and then fails."""

    keys: list[Key]
    fetches: int = 0
    started: int = 0
    server: http.server.ThreadingHTTPServer | None = field(default=None, repr=False)
    _hanging: bool = field(default=False, repr=False)
    _released: threading.Event = field(default_factory=threading.Event, repr=False)
    _arrived: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def hang(self) -> None:
        self._released.clear()
        self._hanging = True

    def release(self) -> None:
        self._hanging = False
        self._released.set()

    def wait_started(self, count: int, timeout_s: float = 60.0) -> bool:
        """Wait (on a condition) until ``count`` requests have arrived in all."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self.started >= count, timeout_s)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"

    def start(self) -> JWKSServer:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                if self.path != "/.well-known/jwks.json":
                    self.send_response(404)
                    self.end_headers()
                    return
                with outer._arrived:
                    outer.started += 1
                    outer._arrived.notify_all()
                if outer._hanging:
                    outer._released.wait(120)
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                outer.fetches += 1
                body = json.dumps({"keys": [k.jwk() for k in outer.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
