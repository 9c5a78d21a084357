"""The notebooks under nbval.

Keep a notebook's references current: execute it with its default parameters and store only the
outputs of the cells tagged ``nbval-check-output`` (the rest stays empty, so the committed
notebook is small and its diffs show only reference changes). And prepare the copies that
``python -m evals nbval`` gives nbval: each notebook with a profile's parameters injected after its
``parameters`` cell (papermill's ``prepare_only``), references kept, nothing executed.

    python -m evals refresh-refs notebooks/01_quality_eval.ipynb
    python -m evals prepare --profile smoke --out build/nbval
    python -m evals nbval --profile smoke --out build/nbval   # prepare, nbval, stop servers
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nbformat

from evals.paths import REPO_ROOT

CHECK_TAG = "nbval-check-output"


def strip_unchecked(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Outputs and execution counts only on checked cells; papermill metadata removed."""
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if not cell.metadata.get("tags", True):
            del cell.metadata["tags"]
        if cell.cell_type != "code":
            continue
        if CHECK_TAG not in cell.metadata.get("tags", []):
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("papermill", None)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def refresh(path: str | Path, kernel: str = "python3") -> Path:
    """Execute ``path`` in place with its defaults and keep only the reference outputs."""
    import papermill

    from evals.runs.execute import ensure_kernel

    path = Path(path)
    ensure_kernel(kernel)
    executed = papermill.execute_notebook(str(path), None, kernel_name=kernel,
                                          cwd=str(REPO_ROOT), progress_bar=False)
    clean = strip_unchecked(nbformat.from_dict(dict(executed)))
    # papermill adds an "injected-parameters" cell only when parameters are given: none here
    nbformat.write(clean, path)
    return path


def prepare(profile: str, out_dir: str | Path, only: Sequence[str] = ()) -> list[Path]:
    """Write every notebook of ``profile`` (or those in ``only``) into ``out_dir`` with the
    profile's parameters injected, to be executed elsewhere (by nbval). The copies write their
    results where a notebook run from JupyterLab does (``reports/dev/<name>``)."""
    import papermill

    from evals import profiles

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in profiles.notebooks_for(profile, only):
        params = profiles.parameters(spec, profile, "")
        target = out / spec.file.name
        papermill.execute_notebook(str(spec.file), str(target), parameters=params,
                                   prepare_only=True, progress_bar=False)
        written.append(target)
    return written


def check(profile: str, out_dir: str | Path, only: Sequence[str] = (),
          pytest_args: Sequence[str] = ()) -> int:
    """nbval itself, on demand (``make harness`` compares the same cells without a second
    execution: evals/nbcompare.py): prepare the copies into ``out_dir`` (emptied
    first), run nbval on them (``pytest --nbval-lax``) and stop the embedded servers that the
    notebooks started, as a harness run does (those running before are left alone). Returns
    pytest's exit code."""
    import shutil
    import subprocess
    import sys

    from evals import knobs, servers

    dirs = servers.state_dirs(knobs.harness_state_dir())
    before = servers.running(dirs)
    shutil.rmtree(out_dir, ignore_errors=True)
    written = prepare(profile, out_dir, only)
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "--timeout", "1800",
               "-p", "no:cacheprovider", *pytest_args, *(str(p) for p in written)]
    print("evals: " + " ".join(command[1:]), flush=True)
    try:
        return subprocess.call(command, cwd=REPO_ROOT)
    finally:
        for name in servers.stop_started(before, dirs):
            print(f"evals: stopped {name} (started by the notebooks)", flush=True)
