"""The golden set as a dataset: card metadata, ``load_dataset("golden", config)`` for every
config, the generated notes file in sync with the Markdown notes, and the card's own snippet."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from evals.datasets import golden, golden_export
from evals.paths import GOLDEN_DIR, REPO_ROOT

CARD = GOLDEN_DIR / "README.md"
CONFIGS = ("qa", "notes", "semantic_pairs")


def card_metadata() -> dict:
    text = CARD.read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "golden/README.md starts without a YAML block"
    return yaml.safe_load(match.group(1))


def expected_rows() -> dict[str, int]:
    return {"qa": len(golden.load_qa()), "notes": len(golden.load_notes()),
            "semantic_pairs": len(golden.load_semantic_pairs())}


def test_card_declares_configs_licence_version_and_size():
    meta = card_metadata()
    assert meta["license"] == "cc-by-4.0"
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(meta["version"]))
    assert meta["size_categories"] == ["n<1K"]
    assert max(expected_rows().values()) < 1000  # the size category is true
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == set(CONFIGS)
    for config in configs.values():
        for files in config["data_files"]:
            assert list(GOLDEN_DIR.glob(files["path"])), files["path"]
    assert (REPO_ROOT / "LICENSE").read_text().startswith("MIT License")


def test_notes_file_is_in_sync_with_the_markdown_notes(tmp_path):
    assert golden_export.in_sync(), "run python -m evals.datasets.golden_export"
    # and the check can fail: a copy with one note edited is out of sync
    copy = tmp_path / "golden"
    (copy / "notes").mkdir(parents=True)
    for user in (GOLDEN_DIR / "notes").iterdir():
        (copy / "notes" / user.name).mkdir()
        for note in user.glob("*.md"):
            (copy / "notes" / user.name / note.name).write_text(note.read_text())
    (copy / golden_export.NOTES_FILE).write_text(golden_export.render(GOLDEN_DIR))
    assert golden_export.in_sync(copy)
    first = sorted((copy / "notes").glob("*/*.md"))[0]
    first.write_text(first.read_text().replace("\n\n", "\n\nAn added sentence.\n\n", 1))
    assert not golden_export.in_sync(copy)


@pytest.mark.parametrize("config", CONFIGS)
def test_load_dataset_by_path_for_each_config(config, tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset(str(GOLDEN_DIR), config, split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == expected_rows()[config]
    assert "split" in ds.column_names or config == "notes"
    if config == "notes":
        assert set(golden_export.FIELDS) == set(ds.column_names)
        assert set(ds["id"]) == set(golden.load_notes()["id"])


@pytest.mark.slow
def test_the_cards_snippet_runs_from_the_repository_root(tmp_path):
    text = CARD.read_text(encoding="utf-8")
    loading = text[text.index("## Loading"):]
    snippet = re.search(r"```python\n(.*?)```", loading, re.S)
    assert snippet, "no python block under ## Loading"
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", snippet.group(1)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = expected_rows()
    test_qa = len(golden.load_qa(split="test"))
    last = done.stdout.strip().splitlines()[-1]
    assert last.split() == [str(rows["qa"]), str(rows["notes"]), str(rows["semantic_pairs"]),
                            str(test_qa)]

