"""The images of docker-compose.yml are the versions the tests run: PostgreSQL and pgvector of
the embedded test server, and a Redis major that the app's Redis paths (Lua scripts of the
ledger, caches, semantic hashes, the shared breaker, AOF) are run against here."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
import pytest
import redis
import yaml
from served_app import free_port
from servers import wait_aof_written

from rag_core.cache.redis_cache import RedisCache
from rag_core.cache.semantic import judge_for, semantic_for
from rag_core.config import Settings
from rag_core.costs import reporting
from rag_core.costs.ledger import ledger_for
from rag_core.errors import BudgetExceeded
from rag_core.llm.resilience import SharedBreakerStorage
from rag_core.redis_kv.client import shared_client
from rag_core.services import new_password, password_url, redis_server_binary, spawn_redis
from rag_core.types import Chunk, TokenUsage

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SERVICES = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def system_redis() -> str | None:
    """Debian's redis-server (7.0 on bookworm), when installed (``make setup`` installs it)."""
    path = shutil.which("redis-server")
    return path if path and Path(path).resolve() != Path(redis_server_binary()).resolve() \
        else None


def test_postgres_image_is_the_tested_postgres_and_pgvector(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
        vector = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    assert SERVICES["postgres"]["image"] == f"pgvector/pgvector:{vector}-pg{major}"


BINARIES = ["embedded", "system"]


@dataclass
class AnyRedis:
    binary: str
    data: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    password: str = field(default_factory=new_password)  # on TCP: closed by a password

    @property
    def url(self) -> str:
        return password_url(self.port, self.password)

    def start(self) -> None:
        self.proc = spawn_redis(self.data, self.port, binary=self.binary, password=self.password)

    def crash(self) -> None:
        """SIGKILL, and wait until it is gone (its port free again)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(params=BINARIES)
def any_redis(request: pytest.FixtureRequest, short_tmp: Path) -> Iterator[AnyRedis]:
    """A redis-server of each kind the suite knows: the embedded 6.2 and Debian's 7.x."""
    binary = redis_server_binary() if request.param == "embedded" else system_redis()
    if binary is None:
        message = "Debian's redis-server is not installed (apt-get install -y redis-server)"
        if _ci():
            pytest.fail(message)
        pytest.skip(message)
    server = AnyRedis(binary, short_tmp / f"rv{uuid.uuid4().hex[:6]}", free_port())
    server.start()
    try:
        yield server
    finally:
        server.crash()


def test_compose_redis_major_is_one_the_tests_run() -> None:
    majors = set()
    for binary in (redis_server_binary(), system_redis()):
        if binary:
            out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout
            majors.add(out.split("v=", 1)[1].split(".", 1)[0])
    compose_major = SERVICES["redis"]["image"].split(":", 1)[1].split(".", 1)[0]
    if compose_major not in majors and not _ci():
        pytest.skip(f"redis {compose_major} not installed here (tests run {sorted(majors)})")
    assert compose_major in majors


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


def test_the_apps_redis_paths_on_each_redis(any_redis: AnyRedis, settings: Settings) -> None:
    url = any_redis.url
    s = settings.with_overrides(redis_url=url, user_daily_budget_usd=1.0)
    client = shared_client(url, s)
    # the ledger's Lua scripts: reserve, commit, the cap
    ledger = ledger_for(client, s)
    ledger.commit(ledger.reserve("amara", 0.5), 0.4, TokenUsage(10, 5))
    assert reporting.spend(ledger, "amara") == pytest.approx(0.4)
    with pytest.raises(BudgetExceeded):
        ledger.reserve("amara", 0.7)
    # cache values with TTLs, and semantic hashes
    cache = RedisCache("query", client)
    cache.set("rag:query:k", b"v", 60)
    assert cache.get("rag:query:k") == b"v" and 0 < client.ttl("rag:query:k") <= 60
    semantic = semantic_for(client, s, judge=judge_for(s))
    evidence = [Chunk(chunk_id="amara-005:0:h", note_id="amara-005", user_id="amara", ordinal=0,
                      text="Pastor Okafor taught that prayer is asking like a child.", score=0.6)]
    semantic.store("amara", 1, "What did Okafor say about prayer?", unit(1), b"answer", 60,
                   evidence)
    hit = semantic.lookup("amara", 1, "What did Okafor say about prayer?", unit(1),
                          lambda: evidence)
    assert hit is not None and hit.answer == b"answer"
    # the breaker's shared state
    storage = SharedBreakerStorage(client, "rag:breaker:t")
    storage.state = "open"
    storage.increment_counter()
    assert storage.state == "open" and storage.counter == 1 and storage.shared
    # persistence: a crash keeps the day's spend, once Redis has written it to its file
    wait_aof_written(client)
    any_redis.crash()
    client.close()
    any_redis.start()
    again = ledger_for(shared_client(url, s), s)
    assert reporting.spend(again, "amara") == pytest.approx(0.4)
    assert redis.Redis.from_url(url).get("rag:breaker:t:state") == b"open"
