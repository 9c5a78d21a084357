"""Execute a run's notebooks with papermill in a Jupyter kernel of this interpreter, and
read back what each one recorded (results, Settings and their sources)."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO, TypedDict

from evals import knobs, profiles
from evals.paths import REPO_ROOT
from evals.report import record
from evals.report import summary as report

KERNEL = "python3"


def ensure_kernel(name: str = KERNEL) -> str:
    """Make sure a Jupyter kernel ``name`` exists that runs this interpreter; return its argv0.

    ipykernel's own ``python3`` spec (``argv[0] == "python"``) is started by jupyter_client with
    ``sys.executable``; if no such kernel is found it is installed into ``sys.prefix``.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(name)
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        install(prefix=sys.prefix, kernel_name=name)
        spec = KernelSpecManager().get_kernel_spec(name)
    argv0 = spec.argv[0]
    generic = {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}
    if argv0 not in generic and Path(argv0).resolve() != Path(sys.executable).resolve():
        print(f"evals: warning: kernel {name!r} runs {argv0}, not {sys.executable}; "
              f"run `{sys.executable} -m ipykernel install --sys-prefix --name {name}`",
              file=sys.stderr)
    return argv0



def execute(spec: profiles.NotebookSpec, params: dict[str, object], executed: Path,
             out_dir: Path, stream: TextIO, warm_state: Path | None = None
             ) -> report.NotebookOutcome:
    """Run one notebook: in a new kernel, or with ``warm_state`` in the warm kernel of that
    state folder (``evals.runs.warm_kernel``: the tuning loop's, which also writes the executed
    notebook once at its end instead of after every cell: 1-1.5 s of a tune run)."""
    from evals.runs.papermill_import import papermill as import_papermill

    papermill = import_papermill()
    start = time.perf_counter()
    ok, error = True, ""
    try:
        with _kernel(warm_state, stream) as km:  # None: papermill starts and stops one
            papermill.execute_notebook(
                str(spec.file), str(executed), parameters=params, kernel_name=KERNEL,
                cwd=str(REPO_ROOT), progress_bar=False, stderr_file=stream, log_output=False,
                km=km, request_save_on_cell_execute=warm_state is None,
            )
    except papermill.PapermillExecutionError as exc:
        ok, error = False, f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})"
    except Exception as exc:  # kernel died, timeout, bad notebook: all mean "notebook failed"
        ok, error = False, "".join(traceback.format_exception_only(exc)).strip()
    seconds = time.perf_counter() - start
    outcome = report.NotebookOutcome(name=spec.name, path=spec.path, executed=str(executed),
                                     seconds=round(seconds, 1), ok=ok, error=error)
    for result in record.load_results(out_dir):
        outcome.artifacts += [str(out_dir / a) for a in result.get("artifacts", [])]
        outcome.notes.update(result.get("notes", {}))
        outcome.tables.update(result.get("tables", {}))
    return outcome



@contextmanager
def _kernel(warm_state: Path | None, stream: TextIO) -> Iterator[object]:
    if warm_state is None:
        yield None
        return
    from evals.runs import warm_kernel

    with warm_kernel.attached(warm_state, stream) as km:
        yield km


class RecordedSettings(TypedDict):
    fields: dict[str, dict[str, object]]  # field -> {value, source}
    warnings: list[str]


_PATH_FIELDS = ("state_dir", "model_cache_dir")  # folders: shown repo-relative


def settings_of(out_dir: Path) -> RecordedSettings:
    """field -> {value, source} recorded by the notebook (evals/knobs.py), and its warnings."""
    fields: dict[str, dict[str, object]] = {}
    warnings: list[str] = []
    for rec in knobs.load_recorded(out_dir):
        fields.update({k: {"value": rel(Path(v)) if k in _PATH_FIELDS and isinstance(v, str)
                           else v,
                           "source": rec["sources"].get(k, "default")}
                       for k, v in rec["settings"].items()})
        warnings += rec.get("warnings", [])
    return {"fields": fields, "warnings": warnings}



def rel(path: Path) -> str:
    """Repository-relative when inside the checkout (reports never show a machine's paths)."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
