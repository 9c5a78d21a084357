"""`python -m evals nbval` (nbval on demand): the copies are prepared fresh,
nbval runs on them, and the embedded servers the notebooks started are stopped after, while a
server that ran before is left alone. nbval itself is replaced by a stand-in that starts a real
Redis in the harness's state folder, as a notebook does (the notebooks' own runs are the job
of `make harness`)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from evals import nbrefs
from rag_core import services
from rag_core.config import Settings


def _redis_running(state: Path) -> bool:
    settings = Settings(profile="ci", state_dir=state, database_url=None, redis_url=None)
    return bool(services.status(settings).get("redis", {}).get("running"))


@pytest.mark.integration
def test_nbval_stops_only_the_servers_the_notebooks_started(
        tmp_path: Path, short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = short_tmp / f"nb{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("RAG_STATE_DIR", str(state))
    earlier = Settings(profile="ci", state_dir=state / "loadtest", database_url=None,
                       redis_url=None)
    services.start_redis(earlier)  # a developer's server, up before make test
    out = tmp_path / "nbval"
    (out / "stale.ipynb").parent.mkdir(parents=True)
    (out / "stale.ipynb").write_text("{}")
    seen: dict[str, list[str]] = {}

    def nbval_stand_in(command: list[str], cwd: Path) -> int:
        seen["command"] = command
        services.start_redis(Settings(profile="ci", state_dir=state, database_url=None,
                                      redis_url=None))
        return 3

    monkeypatch.setattr(subprocess, "call", nbval_stand_in)
    try:
        assert nbrefs.check("tune", out, ["quality"], ["-x"]) == 3  # pytest's exit code
        command = seen["command"]
        assert command[1:4] == ["-m", "pytest", "--nbval-lax"] and "-x" in command
        assert command[-1] == str(out / "01_quality_eval.ipynb")
        assert sorted(p.name for p in out.iterdir()) == ["01_quality_eval.ipynb"]
        assert not _redis_running(state)
        assert _redis_running(state / "loadtest")
    finally:
        services.stop_redis(earlier)
        services.stop_redis(Settings(profile="ci", state_dir=state, database_url=None,
                                     redis_url=None))
