"""The documents a user reads stay true to the code: every setting is in the configuration
reference, the README's Layout names every package and only paths that exist, and the README
stays a guide, not a lab notebook: its first screen says what this is, the two commands and
where to go next, no line is over 200 characters, and every command it gives (and every command
of docs/benchmarks.md, where the figures live) is one the repository has."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from rag_core.config import Settings, env_names

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BENCHMARKS = (ROOT / "docs" / "benchmarks.md").read_text()
MAX_README_LINES = 340
MAX_LINE_CHARS = 200
FIRST_SCREEN_LINES = 40


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
    # its length in lines and its line length keep it a guide (a cap on words only made
    # sentences shorter than they should be; detail goes to docs/)
    assert len(README.splitlines()) <= MAX_README_LINES
    long = [f"line {n}: {len(line)}" for n, line in enumerate(README.splitlines(), start=1)
            if len(line) > MAX_LINE_CHARS]
    assert long == []


def test_the_first_screen_says_what_it_is_the_two_commands_and_where_to_go_next() -> None:
    first = "\n".join(README.splitlines()[:FIRST_SCREEN_LINES])
    assert "retrieval-augmented generation service" in first
    assert re.search(r"^make harness\b", first, re.M) and re.search(r"^make test\b", first, re.M)
    where = {"evaluate": "docs/evaluate-your-data.md", "tune": "#tune-a-knob",
             "deploy": "docs/deploy.md", "operate": "docs/runbook.md",
             "costs": "docs/benchmarks.md"}
    assert [name for name, link in where.items() if f"({link})" not in first] == []


def _blocks(text: str) -> list[str]:
    """The command lines of a document's bash blocks, comments off, ``a ; b`` as two."""
    lines = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].split(" # ", 1)[0].strip()
            lines += [part.strip() for part in line.split(" ; ") if part.strip()]
    return lines


def _make_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M))


def _parses(parser: argparse.ArgumentParser, words: list[str]) -> bool:
    try:
        parser.parse_args(words)
    except SystemExit:
        return False
    return True


def _unknown(commands: list[str]) -> list[str]:
    """The commands that the repository does not have, or whose arguments its parsers refuse."""
    from evals.cli import build_parser as evals_parser
    from rag_core.cli.main import build_parser as rag_core_parser

    bad = []
    for command in commands:
        words = shlex.split(command)
        if words[0] == "make":
            ok = set(words[1:]) <= _make_targets()
        elif words[0] == "rag-core":
            ok = _parses(rag_core_parser(), words[1:])
        elif words[:3] == ["python", "-m", "evals"]:
            ok = _parses(evals_parser(), words[3:])
        elif words[0] == "python" and words[1].startswith("benchmarks/"):
            ok = (ROOT / words[1]).is_file()
        else:
            ok = True  # a shell's own command (source, set -a): not the repository's
        if not ok:
            bad.append(command)
    return bad


@pytest.mark.parametrize("name", ["README.md", "docs/benchmarks.md"])
def test_every_command_a_guide_gives_is_one_the_repository_has(name: str) -> None:
    commands = _blocks((ROOT / name).read_text())
    assert any(c.startswith("make ") for c in commands), "the guide gives commands to run"
    assert _unknown(commands) == []


def test_the_command_check_refuses_a_command_that_is_not_there() -> None:
    assert _unknown(["make harness", "rag-core ask q --user ben", "rag-core cache stats"]) == []
    assert _unknown(["make no-such-target", "rag-core sermons", "rag-core ask q --nope",
                     "python -m evals walk", "python benchmarks/bench_nothing.py"]) == [
        "make no-such-target", "rag-core sermons", "rag-core ask q --nope",
        "python -m evals walk", "python benchmarks/bench_nothing.py"]


def test_every_figure_of_the_benchmarks_page_comes_with_its_command() -> None:
    sections = re.split(r"^### ", BENCHMARKS, flags=re.M)[1:]
    assert sections, "docs/benchmarks.md has a section per figure"
    assert [s.splitlines()[0] for s in sections if "```bash\n" not in s] == []


def test_the_configuration_reference_is_generated_from_the_code() -> None:
    from rag_core.config import docs

    text = (ROOT / "docs" / "configuration.md").read_text()
    assert docs.updated(text) == text, "run python -m rag_core.config.docs"
