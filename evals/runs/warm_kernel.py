"""A warm Jupyter kernel for the tuning loop: started by the first ``tune`` run, kept up after
it ends and reused by the next, so a run does not pay the kernel's start, the imports (ragas,
scikit-learn, spaCy) and the module-level memos (token counts, vectors, parses) again.

Reuse is safe only when nothing that could change a result changed, so the kernel is started
with a fingerprint of the interpreter, the files of ``rag_core/``, ``evals/`` and ``golden/``
(path, size, mtime), the installed distributions (their ``*.dist-info`` names carry the
versions) and the environment (minus a few names that change with the shell). Another
fingerprint stops the old kernel and starts a new one; so does a kernel that is gone or does
not answer (said on stderr). One run at a time: a run that finds the kernel busy (a lock
held) executes in a throwaway kernel of its own, as the other profiles always do.

Before each notebook the kernel's user namespace is reset (``InteractiveShell.reset``: the
previous run's variables are gone, the cell counter starts at 1), matplotlib's figures are
closed, and the working folder, ``os.environ`` and ``sys.path`` are put back as they were
when the kernel started. Imported modules and their caches stay, on purpose.

The kernel lives in ``<state>/warm-kernel/`` (its connection file, ``kernel.json`` with its
pid and fingerprint, its log) and is registered in the state folder's ``services.json``:
``rag-core services down`` stops it, ``rag-core services status`` shows it. It ends itself
after :data:`IDLE_S` without a run. ``EVALS_WARM_KERNEL=0`` turns it off (every notebook in a
new kernel, as in CI).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import AsyncKernelManager

from evals.paths import REPO_ROOT

if TYPE_CHECKING:
    from rag_core.config import Settings

PROFILES = ("tune",)  # CI, full, dev and smoke keep a fresh kernel per notebook
NAME = "warm-kernel"  # its entry in services.json
SWITCH = "EVALS_WARM_KERNEL"  # "0" (or off, no, false): a fresh kernel per notebook
IDLE_S = 1800.0  # the kernel ends itself after this long without a run
START_S = 120.0  # a new kernel's first answer (the machine may be busy)
ANSWER_S = 30.0  # a kept kernel that does not answer in this long is replaced
SOURCES = ("rag_core", "evals", "golden")
VOLATILE = frozenset({"_", "OLDPWD", "PWD", "SHLVL", "JPY_PARENT_PID", "COLUMNS", "LINES",
                      "TERM_SESSION_ID", "WINDOWID", SWITCH})
_children: list[subprocess.Popen[bytes]] = []  # started here: kept so they are not reaped


def enabled(profile: str) -> bool:
    off = os.environ.get(SWITCH, "").strip().lower() in ("0", "off", "no", "false")
    return profile in PROFILES and not off


def folder(state_dir: Path) -> Path:
    return Path(state_dir).resolve() / NAME


def fingerprint() -> str:
    """What a kept kernel must share with this process to be reused."""
    h = hashlib.sha256(sys.executable.encode())
    for top in SOURCES:
        for path in sorted((REPO_ROOT / top).rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            st = path.stat()
            h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    for entry in dict.fromkeys(sys.path):
        with contextlib.suppress(OSError):
            names = sorted(n for n in os.listdir(entry or ".")
                           if n.endswith((".dist-info", ".egg-info", ".egg-link", ".pth")))
            h.update(f"{entry}\0{names}\n".encode())
    h.update(json.dumps(_environment(), sort_keys=True).encode())
    return h.hexdigest()


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in VOLATILE}


def _settings(state_dir: Path) -> Settings:
    from rag_core.config import Settings

    return Settings(profile="ci", state_dir=state_dir, database_url=None, redis_url=None)


# --- in this process: find, start or replace the kernel, and lend it to one run -------------


class Attached(AsyncKernelManager):
    """The warm kernel, started by an earlier run: nbclient connects to it and never starts
    or shuts it down (it does not own this manager)."""

    pid = 0
    clients: list[AsyncKernelClient]

    @property
    def has_kernel(self) -> bool:
        return True

    async def is_alive(self) -> bool:  # type: ignore[override]  # async, as the base's
        return _alive(self.pid)

    def client(self, **kwargs: object) -> AsyncKernelClient:  # type: ignore[override]
        made = super().client(**kwargs)
        self.clients.append(made)
        return made


def _alive(pid: int) -> bool:
    from rag_core.services import process_alive

    return pid > 0 and process_alive({"pid": pid})


@contextlib.contextmanager
def attached(state_dir: Path, stream: TextIO) -> Iterator[Attached | None]:
    """A kernel manager of the warm kernel, reset for a new notebook; None when another run
    holds it (the caller starts a kernel of its own)."""
    home = folder(state_dir)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "run.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("evals: the warm kernel is busy with another run: this notebook runs in a "
                  "kernel of its own", file=stream)
            yield None
            return
        try:
            try:
                info = _ready(state_dir, stream)
            except Exception as exc:  # no kernel to lend: this notebook starts its own
                print(f"evals: no warm kernel ({exc}): this notebook runs in a kernel of its "
                      "own", file=stream)
                stop(state_dir)
                yield None
                return
            km = Attached(connection_file=str(home / "connection.json"))
            km.load_connection_file()
            km.pid = int(str(info["pid"]))
            km.clients = []
            try:
                yield km
            finally:
                for client in km.clients:
                    with contextlib.suppress(Exception):
                        client.stop_channels()
        finally:
            with contextlib.suppress(OSError):
                (home / "last_run").touch()
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ready(state_dir: Path, stream: TextIO) -> dict[str, object]:
    """The kept kernel, reset; or a new one (the reason said on ``stream``)."""
    home = folder(state_dir)
    wanted = fingerprint()
    info = _read(home / "kernel.json")
    if info:
        pid = int(str(info.get("pid", 0)))
        if not _alive(pid):
            print(f"evals: the warm kernel (pid {pid}) is gone: starting a new one",
                  file=stream)
        elif info.get("fingerprint") != wanted:
            print(f"evals: the code, packages or environment changed since the warm kernel "
                  f"(pid {pid}) started: starting a new one", file=stream)
            stop(state_dir)
        else:
            try:
                _call(home, _reset_code(), ANSWER_S)
                return info
            except Exception as exc:  # no answer, a dead channel, a failed reset: replace it
                print(f"evals: the warm kernel (pid {pid}) did not answer ({exc}): starting "
                      "a new one", file=stream)
                stop(state_dir)
    info = _start(state_dir, wanted)
    print(f"evals: started a warm kernel (pid {info['pid']}) that the next tune run reuses; "
          f"it ends after {IDLE_S / 60:.0f} minutes without a run, or with `rag-core services "
          f"down`; {SWITCH}=0 turns it off", file=stream)
    _call(home, _reset_code(), ANSWER_S)
    return info


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _start(state_dir: Path, wanted: str) -> dict[str, object]:
    from jupyter_client.connect import write_connection_file

    from rag_core.services import register_process

    home = folder(state_dir)
    connection = home / "connection.json"
    connection.unlink(missing_ok=True)
    write_connection_file(str(connection), ip="127.0.0.1", key=uuid.uuid4().hex.encode())
    env = _environment()
    env.pop("JPY_PARENT_PID", None)  # no parent watch: the kernel outlives this process
    args = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection),
            "--HistoryManager.hist_file=:memory:"]
    with open(home / "kernel.log", "ab") as log:
        proc = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, close_fds=True,
                                start_new_session=True)
    _children.append(proc)
    warnings.filterwarnings("ignore", f"subprocess {proc.pid} is still running", ResourceWarning)
    info = {"pid": proc.pid, "fingerprint": wanted, "python": sys.executable,
            "started": time.time()}
    (home / "kernel.json").write_text(json.dumps(info, indent=2))
    register_process(_settings(state_dir), NAME, proc.pid,
                     f"warm notebook kernel of `python -m evals run --profile tune` ({home})")
    (home / "last_run").touch()
    _call(home, f"__import__('evals.runs.warm_kernel', fromlist=['serve'])"
                f".serve({str(state_dir)!r}, {IDLE_S!r})", START_S)
    return info


class _PidClient(BlockingKernelClient):
    """A client that calls the kernel dead only when its process is gone. jupyter_client's
    own judges a kernel it did not start by one heartbeat: a ping unanswered within a second
    reads as death, so a kernel still starting (a busy machine, or coverage measuring it)
    would be "dead before replying to kernel_info" and replaced for nothing."""

    pid = 0

    async def _async_is_alive(self) -> bool:
        return _alive(self.pid)


def _call(home: Path, code: str, timeout: float) -> None:
    """Run ``code`` in the kernel outside its history; an error raises ``RuntimeError``."""
    client = _PidClient(connection_file=str(home / "connection.json"))
    client.pid = int(str(_read(home / "kernel.json").get("pid", 0)))
    client.load_connection_file()
    client.start_channels(hb=False)
    try:
        client.wait_for_ready(timeout=timeout)
        reply = client.execute_interactive(code, store_history=False, timeout=timeout,
                                           output_hook=lambda msg: None)
    finally:
        client.stop_channels()
    content = reply["content"]
    if content.get("status") != "ok":
        raise RuntimeError(f"{content.get('ename')}: {content.get('evalue')}")


def _reset_code() -> str:
    return f"__import__('evals.runs.warm_kernel', fromlist=['reset']).reset({str(REPO_ROOT)!r})"


def stop(state_dir: Path) -> bool:
    """Stop the warm kernel of ``state_dir`` (what ``rag-core services down`` does too) and
    wait until it is gone."""
    from rag_core.services import stop_process

    info = _read(folder(state_dir) / "kernel.json")
    done = stop_process(_settings(state_dir), NAME)
    (folder(state_dir) / "kernel.json").unlink(missing_ok=True)
    pid = int(str(info.get("pid", 0)))
    for proc in _children:
        if proc.pid == pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while done and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return done


# --- in the kernel --------------------------------------------------------------------------

_BASE_ENV: dict[str, str] = {}  # the kernel's environment and sys.path as it started
_BASE_PATH: list[str] = []


def serve(state_dir: str, idle_s: float) -> None:
    """In the kernel, once: remember what :func:`reset` puts back, and end the kernel after
    ``idle_s`` without a run (never while a run holds the lock)."""
    _BASE_ENV.update(os.environ)
    _BASE_PATH[:] = sys.path
    home = folder(Path(state_dir))
    threading.Thread(target=_watch, args=(Path(state_dir), home, idle_s), daemon=True,
                     name="warm-kernel-idle").start()


def _watch(state_dir: Path, home: Path, idle_s: float) -> None:
    while True:
        time.sleep(min(60.0, max(idle_s / 4, 0.2)))
        try:
            idle = time.time() - (home / "last_run").stat().st_mtime
        except OSError:
            idle = idle_s + 1  # the folder was removed: nobody will use this kernel
        if idle <= idle_s:
            continue
        if not home.is_dir():
            os._exit(0)  # the state folder was removed: nobody will find this kernel
        with open(home / "run.lock", "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a run has it
            with contextlib.suppress(Exception):
                from rag_core.services import unregister_process

                unregister_process(_settings(state_dir), NAME, os.getpid())
                if _read(home / "kernel.json").get("pid") == os.getpid():
                    (home / "kernel.json").unlink()
            os._exit(0)  # ends with the lock released


def reset(cwd: str) -> None:
    """In the kernel, before each notebook: a namespace as a new kernel has it."""
    from IPython import get_ipython

    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
    if _BASE_ENV:
        os.environ.clear()
        os.environ.update(_BASE_ENV)
        sys.path[:] = _BASE_PATH
    os.chdir(cwd)
    shell = get_ipython()
    if shell is not None:
        shell.reset(new_session=True)  # user variables, In/Out, and the counter back to 1
