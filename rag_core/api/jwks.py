"""The gateway's signing keys (JWKS), fetched so that a slow identity provider cannot stall
valid users.

* Keys are kept ``RAG_JWT_JWKS_CACHE_S``; a token whose key is cached never waits for a fetch.
* At most one fetch runs at a time per process (``MAX_FETCHES``). A token that needs keys while
  a fetch is in flight is answered at once: with the old key when one is cached (stale while
  revalidating), else ``AuthUnavailable`` (503 with Retry-After), never by queueing behind it.
* A failed fetch is remembered for ``RAG_JWT_JWKS_COOLDOWN_S``: meanwhile tokens with an unknown
  key get 503 at once (cached keys keep working), instead of each starting a new fetch.
* An unknown ``kid`` refetches at most once per cooldown after a good fetch too, so forged key
  ids cannot make us hammer the identity provider; inside it they get 401 at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

import jwt

from rag_core.errors import AuthUnavailable, Unauthorized

if TYPE_CHECKING:
    from jwt.algorithms import AllowedPublicKeys

# what ``jwt.decode`` verifies with: a shared secret, a PEM text, or a key read from a JWKS
SigningKey: TypeAlias = "AllowedPublicKeys | str | bytes"

MAX_FETCHES = 1


class JwksKeys:
    """Signing keys by ``kid`` from one JWKS URL (see the module docstring). ``clock`` is
    monotonic seconds; tests set their own."""

    def __init__(self, url: str, *, lifespan_s: float, cooldown_s: float, timeout_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lifespan_s = lifespan_s
        self.cooldown_s = cooldown_s
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, cache_keys=False,
                                       timeout=timeout_s)
        self._keys: dict[str | None, SigningKey] = {}
        self._fetched_at: float | None = None
        self._failed_until = 0.0
        self._lock = threading.Lock()
        self._fetches = threading.BoundedSemaphore(MAX_FETCHES)

    def key_for(self, token: str) -> SigningKey:
        """The key that signed ``token`` (by its header's ``kid``)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("The token is not valid.") from exc
        now = self.clock()
        with self._lock:
            key = self._keys.get(kid)
            age = None if self._fetched_at is None else now - self._fetched_at
            failed_for = self._failed_until - now
        if key is not None and age is not None and age < self.lifespan_s:
            return key
        if key is None and age is not None and age < min(self.cooldown_s, self.lifespan_s):
            raise Unauthorized("The token is not signed by a known key.")
        if failed_for > 0:
            if key is not None:
                return key  # the provider is down: the key we had still verifies
            raise AuthUnavailable("The identity provider's keys could not be fetched; retrying "
                                  "after a cooldown.", retry_after=failed_for)
        if not self._fetches.acquire(blocking=False):
            if key is not None:
                return key
            raise AuthUnavailable("The identity provider's keys are being fetched; retry "
                                  "shortly.", retry_after=1.0)
        try:
            return self._fetch(kid, key)
        finally:
            self._fetches.release()

    def _fetch(self, kid: str | None, stale: SigningKey | None) -> SigningKey:
        try:
            keyset = jwt.PyJWKSet.from_dict(self._client.fetch_data())
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, jwt.InvalidKeyError, ValueError,
                TypeError, OSError) as exc:
            with self._lock:
                self._failed_until = self.clock() + self.cooldown_s
            if stale is not None:
                return stale
            raise AuthUnavailable("The identity provider's keys cannot be fetched right now.",
                                  retry_after=self.cooldown_s) from exc
        with self._lock:
            self._keys = {k.key_id: k.key for k in keyset.keys}
            self._fetched_at = self.clock()
            self._failed_until = 0.0
            key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("The token is not signed by a known key.")
        return key
