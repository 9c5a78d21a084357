"""What ``rag-core serve`` logs about itself: where to reach it, then when it is ready (and once,
what is not ready while ``/readyz`` answers 503), against a real HTTP server on loopback."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag_core.cli.announce import local_url, watch_ready


def test_a_wildcard_host_is_reached_on_the_loopback() -> None:
    assert local_url("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert local_url("::", 8000) == "http://[::1]:8000"
    assert local_url("10.0.0.5", 81) == "http://10.0.0.5:81"


class Readyz:
    """/readyz answering 503 (the LLM check failing) for the first ``not_ready`` calls."""

    def __init__(self, not_ready: int) -> None:
        self.left = not_ready
        self.lock = threading.Lock()

    def answer(self) -> tuple[int, dict[str, object]]:
        with self.lock:
            self.left -= 1
            if self.left >= 0:
                return 503, {"status": "not_ready", "failing": ["llm"]}
        return 200, {"status": "ready", "failing": []}


@pytest.fixture
def server() -> Iterator[tuple[str, Readyz]]:
    state = Readyz(not_ready=3)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            status, body = state.answer()
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    httpd.shutdown()
    httpd.server_close()


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_ready_is_logged_once_readyz_answers_200(server: tuple[str, Readyz]) -> None:
    url, _ = server
    logger = logging.getLogger("rag_core.serve")
    seen = Records()
    logger.addHandler(seen)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        watch_ready(url, every_s=0.01).join(timeout=60)
    finally:
        logger.removeHandler(seen)
        logger.setLevel(level)
    assert [r.getMessage() for r in seen.records] == [
        f"rag-core serve answers on {url} but is not ready (see /readyz)",
        f"rag-core serve ready on {url}"]
    assert seen.records[0].levelno == logging.WARNING
    assert seen.records[0].fields["failing"] == ["llm"]  # type: ignore[attr-defined]
