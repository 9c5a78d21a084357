"""Exported embedding models are cached once per machine user, not per state folder, and a
process loads one runtime per model whatever folder its settings name."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_core.config import Settings
from rag_core.embedding import DEFAULT_MODEL
from rag_core.embedding.runtimes import OpenVinoEmbedder


def test_state_folders_share_the_users_model_cache(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_MODEL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    one = Settings(state_dir=tmp_path / "a").model_cache_path
    two = Settings(state_dir=tmp_path / "b").model_cache_path
    assert one == two == tmp_path / "cache" / "rag_core" / "models"
    assert Settings(model_cache_dir=tmp_path / "mine").model_cache_path == tmp_path / "mine"


def test_without_a_usable_cache_folder_the_state_folder_holds_models(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_MODEL_CACHE_DIR", raising=False)
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert Settings(state_dir=tmp_path / "s").model_cache_path == tmp_path / "s" / "models"


@pytest.mark.slow
def test_one_runtime_serves_settings_with_other_cache_folders(tmp_path: Path) -> None:
    shared = OpenVinoEmbedder(DEFAULT_MODEL, 384, 8, Settings().model_cache_path)
    first = shared.embed(["grace and peace"])
    other = OpenVinoEmbedder(DEFAULT_MODEL, 384, 8, tmp_path / "elsewhere")
    assert other.loaded
    assert (other.embed(["grace and peace"]) == first).all()
    assert not (tmp_path / "elsewhere").exists()  # nothing exported a second time
