"""The coverage gate's combine step (``.ci/coverage_floor.py --combine``, run by ``make test``):
a data file that a killed process left unfinished is left out with a warning, and the gate goes
on with what the other processes measured, where ``coverage combine`` stopped the build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from coverage import CoverageData

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci" / "coverage_floor.py"


def _project(tmp_path: Path) -> tuple[Path, Path]:
    """A project with one module under rag_core/ and coverage's data folder; the module's path
    and the data folder."""
    module = tmp_path / "rag_core" / "thing.py"
    module.parent.mkdir()
    module.write_text("a = 1\nb = 2\nc = 3\nd = 4\n")
    (tmp_path / ".coveragerc").write_text(
        "[run]\nparallel = true\ndata_file = reports/coverage/.coverage\n")
    data = tmp_path / "reports" / "coverage"
    data.mkdir(parents=True)
    return module, data


def _measured(data_file: Path, module: Path, lines: list[int]) -> None:
    recorded = CoverageData(str(data_file))
    recorded.add_lines({str(module): lines})
    recorded.write()


def _lines(data: Path, module: Path) -> set[int]:
    combined = CoverageData(str(data / ".coverage"))
    combined.read()
    return set(combined.lines(str(module)) or [])


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A child of this project's Python, not itself under the tests' coverage (whose data
    would land in the same folder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def _gate(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _run(tmp_path, str(SCRIPT), *extra, "--floor", "80")


def test_an_unfinished_file_left_alone_beside_the_combined_data_does_not_stop_the_gate(
        tmp_path: Path) -> None:
    module, data = _project(tmp_path)
    _measured(data / ".coverage", module, [1, 2, 3])  # pytest-cov's combined data
    unfinished = data / ".coverage.vm.pid28734.Xh17DnCx"
    unfinished.write_bytes(b"")  # opened, killed before its tables were written
    # what the Makefile ran before: coverage's own command refuses
    refused = _run(tmp_path, "-m", "coverage", "combine", "--append", "--quiet")
    assert refused.returncode != 0 and "No usable data files" in refused.stdout + refused.stderr

    done = _gate(tmp_path, "--combine")
    assert done.returncode == 0, done.stderr
    assert "isn't a coverage data file" in done.stderr  # warned, naming the file
    assert unfinished.name in done.stderr
    assert "coverage: rag_core lines 75.0 % (3 of 4)" in done.stdout
    assert "75.0 %" in done.stdout and "rag_core/thing.py" in done.stdout  # under the floor
    assert _lines(data, module) == {1, 2, 3}


def test_the_other_processes_files_are_added_and_the_unfinished_one_is_left_out(
        tmp_path: Path) -> None:
    module, data = _project(tmp_path)
    _measured(data / ".coverage", module, [1])
    _measured(data / ".coverage.vm.pid1.AAAA", module, [2, 4])
    (data / ".coverage.vm.pid2.BBBB").write_bytes(b"")

    done = _gate(tmp_path, "--combine")
    assert done.returncode == 0, done.stderr
    assert _lines(data, module) == {1, 2, 4}
    assert not (data / ".coverage.vm.pid1.AAAA").exists()  # combined, then removed
    assert "coverage: rag_core lines 75.0 % (3 of 4)" in done.stdout


def test_without_combine_only_the_combined_data_is_read(tmp_path: Path) -> None:
    module, data = _project(tmp_path)
    _measured(data / ".coverage", module, [1, 2, 3, 4])
    done = _gate(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "coverage: rag_core lines 100.0 % (4 of 4)" in done.stdout
    assert "0 rag_core modules under 80 %" in done.stdout
