"""Other processes that outlive their starter (a warm notebook kernel): written in the
registry so that ``rag-core services status`` shows them and ``services down`` ends them."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from rag_core.config import Services, Settings
from rag_core.services.registry import locked, read_registry, state_folder, write_registry


def processes(section: Services) -> dict[str, dict[str, object]]:
    found = read_registry(section).get("processes", {})
    return {str(k): v for k, v in found.items() if isinstance(v, dict)}


def _start_ticks(pid: int) -> int | None:
    """Its start in clock ticks since boot (``/proc``): a reused pid has another one."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_alive(entry: dict[str, object]) -> bool:
    """The registered process still runs (same pid and start time, not a zombie)."""
    try:
        pid = int(str(entry.get("pid")))
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    ticks = entry.get("start_ticks")
    return state not in ("Z", "X") and (ticks is None or ticks == _start_ticks(pid))


def register_process(settings: Settings, name: str, pid: int, what: str) -> None:
    """A process that ``stop_all`` ends (SIGTERM to its process group: start it in a session
    of its own) and ``status`` shows."""
    with locked(state_folder(settings.services) / "services.lock"):
        registry = read_registry(settings.services)
        registry.setdefault("processes", {})[name] = {
            "pid": pid, "start_ticks": _start_ticks(pid), "what": what}
        write_registry(settings.services, registry)


def unregister_process(settings: Settings, name: str, pid: int) -> None:
    """Forget ``name`` when it is still the entry of ``pid`` (the process ended itself)."""
    with locked(state_folder(settings.services) / "services.lock"):
        registry = read_registry(settings.services)
        if processes(settings.services).get(name, {}).get("pid") == pid:
            registry.get("processes", {}).pop(name, None)
            write_registry(settings.services, registry)


def stop_process(settings: Settings, name: str) -> bool:
    """End the registered process ``name`` (False: it was not running)."""
    with locked(state_folder(settings.services) / "services.lock"):
        return stop_unlocked(settings.services, name)


def stop_unlocked(section: Services, name: str) -> bool:
    registry = read_registry(section)
    entry = registry.get("processes", {}).pop(name, None)
    write_registry(section, registry)
    if not isinstance(entry, dict) or not process_alive(entry):
        return False
    try:
        os.killpg(int(entry["pid"]), signal.SIGTERM)
    except OSError:
        return False
    return True
