"""The documents a user reads stay true to the code: every setting is in the configuration
reference, the README's Layout names every package and only paths that exist, and the README
stays a guide (a length a person reads), not a lab notebook."""

from __future__ import annotations

import re
from pathlib import Path

from rag_core.config import Settings, env_names

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MAX_README_LINES = 260


def test_every_setting_is_in_the_configuration_reference() -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text()
    missing = [env_names(field)[0] for field in Settings.flat_fields()
               if not any(n in reference for n in env_names(field))]
    assert missing == []


def _layout() -> str:
    match = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", README, flags=re.M | re.S)
    assert match, "the README has a Layout section"
    return match.group(1)


def test_the_readme_layout_names_every_package() -> None:
    layout = _layout()
    packages = [f"{p.parent.relative_to(ROOT).as_posix()}/"
                for top in ("rag_core", "evals") for p in (ROOT / top).glob("*/__init__.py")]
    assert [p for p in packages if f"`{p}`" not in layout] == []


def test_the_readme_layout_names_only_paths_that_exist() -> None:
    named = [n for n in re.findall(r"`([\w./-]+)`", _layout()) if "/" in n]
    assert named, "the Layout section names paths in backticks"
    assert [p for p in named if not (ROOT / p).exists()] == []


def test_the_readme_is_a_guide_not_a_lab_notebook() -> None:
    assert len(README.splitlines()) <= MAX_README_LINES


def test_the_configuration_reference_is_generated_from_the_code() -> None:
    from rag_core.config import docs

    text = (ROOT / "docs" / "configuration.md").read_text()
    assert docs.updated(text) == text, "run python -m rag_core.config.docs"
