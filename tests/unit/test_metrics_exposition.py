"""The Prometheus exposition as an operator scrapes it: summed over the worker processes when
``PROMETHEUS_MULTIPROC_DIR`` is set (``rag-core serve --workers N``), with each live worker's
``process_*`` series under its ``pid``; and on a port of its own (``serve_metrics``), which the
first worker to bind serves while the others skip."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from rag_core.telemetry import metrics


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_multiprocess_scrape_sums_the_workers_files_and_labels_process_series(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for pid, value in ((os.getpid(), 3.0), (2 ** 22 + 17, 4.0)):  # the second: a gone worker
        store = MmapedDict(str(tmp_path / f"counter_{pid}.db"))
        key = mmap_key("rag_probe", "rag_probe_total", ["route"], ["/v1/query"], "probe")
        store.write_value(key, value, 0.0)
        store.close()
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    families = {f.name: f for f in text_string_to_metric_families(
        metrics.metrics_text().decode())}
    summed = [s for s in families["rag_probe"].samples if s.name == "rag_probe_total"]
    assert [(s.labels, s.value) for s in summed] == [({"route": "/v1/query"}, 7.0)]
    cpu = families["process_cpu_seconds"].samples
    assert {s.labels["pid"] for s in cpu} == {str(os.getpid())}  # live workers only


def test_without_the_folder_the_scrape_is_this_process_registry(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    families = {f.name: f for f in text_string_to_metric_families(
        metrics.metrics_text().decode())}
    assert "requests_shed" in families
    cpu = families["process_cpu_seconds"].samples
    assert len(cpu) == 1 and "pid" not in cpu[0].labels  # this process's own, unlabelled


def test_the_metrics_port_serves_the_scrape_and_a_second_bind_skips() -> None:
    port = free_port()
    assert metrics.serve_metrics("127.0.0.1", port) is True
    scrape = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain; version=")
    assert "process_cpu_seconds_total" in scrape.text
    assert httpx.get(f"http://127.0.0.1:{port}/?x=1", timeout=10).status_code == 200
    other = httpx.get(f"http://127.0.0.1:{port}/v1/query", timeout=10)
    assert (other.status_code, other.text) == (404, "not found\n")
    assert metrics.serve_metrics("127.0.0.1", port) is False  # another worker holds the port
