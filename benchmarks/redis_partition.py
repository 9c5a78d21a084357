"""A TCP relay in front of Redis for one server of a drill, that can be cut like a network.

``cut()``: every byte either side sends is dropped (connections stay open and new ones are
accepted, so the server's commands time out as they would across a partition); ``heal()``:
the connections that lived through the cut are closed (what was in flight is lost, as after a
real partition) and new ones are relayed again. Redis itself never notices: its ``run_id``
stays the same, so nothing looks restarted to anyone.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class PartitionProxy:
    def __init__(self, target_port: int, password: str = "") -> None:
        from rag_core.services import password_url

        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = (password_url(self.port, password) if password
                    else f"redis://127.0.0.1:{self.port}/0")
        self.open = threading.Event()
        self.open.set()
        self.cuts = 0
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="partition-accept", daemon=True).start()

    def cut(self) -> None:
        self.open.clear()
        self.cuts += 1

    def heal(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _close(sock)
        self.open.set()

    def close(self) -> None:
        self.heal()
        _close(self.listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self.open.is_set():  # during a cut, dropped on the floor
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
