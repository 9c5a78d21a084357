"""Helpers shared by the generation tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

from typing import Any

import httpx

from rag_core.types import Chunk


def make_chunk(n: int, text: str, **meta: Any) -> Chunk:
    metadata = {"title": f"Sermon {n}", "date": "2024-03-10", "speaker": "Pastor Miriam Okafor",
                "series": "Hebrews: Better Things", "scripture": ["Hebrews 11:1-8"], **meta}
    return Chunk(chunk_id=f"note-{n}:0:abc", note_id=f"note-{n}", user_id="amara", ordinal=0,
                 text=text, metadata=metadata, score=0.9 - n / 10)


def stats(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/admin/stats", timeout=5).json())


def configure(url: str, **changes: Any) -> None:
    httpx.post(f"{url}/admin/config", json=changes, timeout=5).raise_for_status()
