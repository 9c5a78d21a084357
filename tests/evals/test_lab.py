"""``make lab`` serves the notebooks with the project's kernel: started on a free port, the Lab
page and the kernel list fetched with the token, then stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from evals.paths import REPO_ROOT
from rag_core.procs import free_port, wait_http

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_serves_the_notebooks_with_the_project_kernel(tmp_path):
    port, token = free_port(), "lab-test-token"
    log = tmp_path / "lab.log"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "-s", "lab", f"VENV={sys.prefix}", f"LAB_PORT={port}",
             f"LAB_ARGS=--IdentityProvider.token={token}"],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/status?token={token}", 180, proc=proc, log=log)
        headers = {"Authorization": f"token {token}"}
        # without the token the API refuses
        assert httpx.get(f"{base}/api/kernelspecs", timeout=10).status_code == 403
        page = httpx.get(f"{base}/lab?token={token}", timeout=30, follow_redirects=True)
        assert page.status_code == 200
        assert "JupyterLab" in page.text
        specs = httpx.get(f"{base}/api/kernelspecs", headers=headers, timeout=30).json()
        kernel = specs["kernelspecs"][specs["default"]]["spec"]
        assert Path(kernel["argv"][0]).resolve() == Path(sys.executable).resolve()
        # the notebooks folder is the root of the file browser
        listing = httpx.get(f"{base}/api/contents", headers=headers, timeout=30).json()
        names = {item["name"] for item in listing["content"]}
        assert "01_quality_eval.ipynb" in names
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
