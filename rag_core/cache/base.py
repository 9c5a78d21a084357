"""The Cache protocol: bytes in, bytes out, with a TTL; every layer reports its own stats."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass
class CacheStats:
    layer: str
    hits: int = 0
    misses: int = 0
    sets: int = 0
    evictions: int = 0
    errors: int = 0
    entries: int = 0
    bytes: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def to_dict(self) -> dict[str, float | int | str]:
        data: dict[str, float | int | str] = dict(asdict(self))
        data["hit_rate"] = round(self.hit_rate, 4)
        return data


class Cache(Protocol):
    """A cache layer. Implementations never raise to the caller: a failing backend is a miss."""

    layer: str
    enabled: bool  # False for a layer switched off (its outcomes read "off")

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl_s: int) -> None: ...

    def add(self, key: str, value: bytes, ttl_s: int) -> bool:
        """Set only when the key is absent; True when this call set it."""

    def delete(self, key: str) -> None: ...

    def clear(self, prefix: str = "") -> int:
        """Delete the entries whose key starts with ``prefix``; return how many."""

    def stats(self) -> CacheStats: ...

    def user_entries(self, user_id: str) -> int:
        """The entries of one user in this layer (its share of the layer's bound)."""

    def ping(self) -> bool:
        """True when the backend answers; never raises."""
