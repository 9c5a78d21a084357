"""The tuning loop's warm kernel (real kernels): reused by the next run with a fresh namespace,
replaced when the code, packages or environment changed or when it died, never shared by two
runs at once, stopped by ``rag-core services down`` and by its idle limit."""

import contextlib
import fcntl
import io
import json
import os
import signal
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from evals.profiles import NotebookSpec
from evals.report import record
from evals.runs import warm_kernel
from evals.runs.execute import execute
from rag_core import services
from rag_core.config import Settings
from rag_core.procs import wait_until

pytestmark = pytest.mark.slow

# records the kernel's pid and what a previous run could have left behind, then leaves some
NOTEBOOK = [
    new_code_cell("output_dir = ''", metadata={"tags": ["parameters"]}),
    new_code_cell(
        "import os\n"
        "from evals.report import record\n"
        "record.record('warm', {'pid': os.getpid(),\n"
        "                       'leftover': float('left_behind' in globals()),\n"
        "                       'env_left': float('WARM_TEST_LEFT' in os.environ)}, output_dir)\n"
        "left_behind = 1\n"
        "os.environ['WARM_TEST_LEFT'] = '1'\n"
        "os.chdir('/')"),
]


@pytest.fixture
def notebook(tmp_path):
    nb = new_notebook(cells=NOTEBOOK, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    path = tmp_path / "warm.ipynb"
    nbformat.write(nb, path)
    return NotebookSpec("warm", str(path), {"ci": {}})


@pytest.fixture
def state(tmp_path):
    folder = tmp_path / "state"
    folder.mkdir()
    yield folder
    warm_kernel.stop(folder)


def _run(spec, state, tmp_path, n):
    out = tmp_path / f"run{n}"
    out.mkdir()
    stream = io.StringIO()
    outcome = execute(spec, {"output_dir": str(out)}, out / "warm.ipynb", out, stream,
                      warm_state=state)
    assert outcome.ok, outcome.error + stream.getvalue()
    metrics = record.load_results(out)[0]["metrics"]
    counts = [c.execution_count for c in nbformat.read(out / "warm.ipynb", 4).cells]
    return metrics, stream.getvalue(), counts


def _settings(state):
    return Settings(profile="ci", state_dir=state, database_url=None, redis_url=None)


def _links(fds: Path) -> set[str]:
    """What a live process's open files point to; one it closes while they are read (its
    threads open and close files) is not held, and is passed over."""
    found = set()
    for fd in fds.iterdir():
        with contextlib.suppress(FileNotFoundError):
            found.add(os.readlink(fd))
    return found


def test_the_next_run_reuses_the_kernel_with_a_fresh_namespace(notebook, state, tmp_path):
    first, log, _ = _run(notebook, state, tmp_path, 1)
    assert "started a warm kernel" in log
    second, log, counts = _run(notebook, state, tmp_path, 2)
    assert second["warm.pid"] == first["warm.pid"], log  # the same process
    assert "warm kernel" not in log  # nothing to say
    # nothing the first run left (a variable, an environment variable, the working folder)
    assert second["warm.leftover"] == 0.0
    assert second["warm.env_left"] == 0.0
    assert counts == [1, 2, 3]  # the cells are numbered as in a new kernel
    status = services.status(_settings(state))[warm_kernel.NAME]
    assert status["running"] and status["pid"] == first["warm.pid"]
    # it outlives the command, so it never holds the command's output (`... | tail` ends)
    kernel_fds = Path(f"/proc/{int(first['warm.pid'])}/fd")
    held = _links(kernel_fds)
    assert os.readlink(kernel_fds / "0") == "/dev/null"
    assert not held & {os.readlink(f"/proc/self/fd/{n}") for n in (1, 2)}


def test_a_kernel_slow_to_start_is_waited_for(notebook, state, tmp_path, monkeypatch):
    # a kernel that answers its first heartbeat seconds after it started (a busy machine, or
    # coverage measuring it) is still starting, not dead: it is kept and lent to the run
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text("import time\ntime.sleep(3)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(slow), os.environ.get("PYTHONPATH", "")) if p))
    first, log, _ = _run(notebook, state, tmp_path, 1)
    assert "started a warm kernel" in log and "no warm kernel" not in log, log
    assert int(first["warm.pid"]) == int(json.loads(
        (warm_kernel.folder(state) / "kernel.json").read_text())["pid"])


def test_a_changed_environment_starts_a_new_kernel(notebook, state, tmp_path, monkeypatch):
    first, _, _ = _run(notebook, state, tmp_path, 1)
    monkeypatch.setenv("WARM_TEST_KNOB", "changed")
    second, log, _ = _run(notebook, state, tmp_path, 2)
    assert second["warm.pid"] != first["warm.pid"]
    assert "changed since the warm kernel" in log
    assert not warm_kernel._alive(int(first["warm.pid"]))  # the old one was stopped


def test_the_fingerprint_follows_sources_environment_and_interpreter(tmp_path, monkeypatch):
    for top in warm_kernel.SOURCES:
        (tmp_path / top).mkdir()
    source = tmp_path / "evals" / "module.py"
    source.write_text("A = 1\n")
    monkeypatch.setattr(warm_kernel, "REPO_ROOT", tmp_path)
    before = warm_kernel.fingerprint()
    monkeypatch.setenv("PWD", "/somewhere/else")  # changes with the shell: not counted
    assert warm_kernel.fingerprint() == before
    source.write_text("A = 22\n")
    edited = warm_kernel.fingerprint()
    assert edited != before
    monkeypatch.setenv("RAG_TOP_K", "8")
    assert warm_kernel.fingerprint() != edited
    monkeypatch.delenv("RAG_TOP_K")
    monkeypatch.setattr("sys.executable", "/other/python")
    assert warm_kernel.fingerprint() != edited


def test_a_dead_kernel_is_replaced(notebook, state, tmp_path):
    first, _, _ = _run(notebook, state, tmp_path, 1)
    pid = int(first["warm.pid"])
    os.kill(pid, signal.SIGKILL)
    # a killed process runs until the kernel ends it; on a busy machine that can take a while,
    # and a run meanwhile finds it not answering instead (also replaced, said otherwise)
    wait_until(lambda: not warm_kernel._alive(pid), 60, "the killed kernel to end")
    second, log, _ = _run(notebook, state, tmp_path, 2)
    assert second["warm.pid"] != first["warm.pid"]
    assert "is gone: starting a new one" in log


def test_a_run_that_finds_the_kernel_busy_gets_its_own(notebook, state, tmp_path):
    first, _, _ = _run(notebook, state, tmp_path, 1)
    with open(warm_kernel.folder(state) / "run.lock", "a+") as lock:  # another run has it
        fcntl.flock(lock, fcntl.LOCK_EX)
        second, log, _ = _run(notebook, state, tmp_path, 2)
    assert "busy with another run" in log
    assert second["warm.pid"] != first["warm.pid"]
    assert not warm_kernel._alive(int(second["warm.pid"]))  # the throwaway one is gone
    third, _, _ = _run(notebook, state, tmp_path, 3)
    assert third["warm.pid"] == first["warm.pid"]


def test_services_down_stops_it(notebook, state, tmp_path):
    first, _, _ = _run(notebook, state, tmp_path, 1)
    pid = int(first["warm.pid"])
    stopped = services.stop_all(_settings(state))
    assert stopped[warm_kernel.NAME] is True
    wait_until(lambda: not warm_kernel._alive(pid), 60, "the warm kernel to stop")
    assert warm_kernel.NAME not in services.status(_settings(state))
    assert "processes" in json.loads((state / "services.json").read_text())
    second, log, _ = _run(notebook, state, tmp_path, 2)  # the next run starts another
    assert second["warm.pid"] != pid
    assert "is gone" in log


def test_an_idle_kernel_ends_itself(notebook, state, tmp_path, monkeypatch):
    monkeypatch.setattr(warm_kernel, "IDLE_S", 0.5)
    first, _, _ = _run(notebook, state, tmp_path, 1)
    pid = int(first["warm.pid"])
    wait_until(lambda: not warm_kernel._alive(pid), 120, "the idle kernel to end")
    assert warm_kernel.NAME not in services.status(_settings(state))


def test_only_the_tune_profile_keeps_a_kernel_and_the_switch_turns_it_off(monkeypatch):
    monkeypatch.delenv(warm_kernel.SWITCH)  # the suite turns it off (tests/conftest.py)
    assert warm_kernel.enabled("tune")
    assert not any(warm_kernel.enabled(p) for p in ("ci", "full", "dev", "smoke"))
    monkeypatch.setenv(warm_kernel.SWITCH, "0")
    assert not warm_kernel.enabled("tune")
