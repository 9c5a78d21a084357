"""The worker's side of a span export process (``relay``): the resources and scopes its spans
name, numbered once (``Origins``); one child process, the frames given to it and written to its
pipe without blocking, and its answers (``Child``)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

from rag_core.telemetry.relay_process import frame

Origin = tuple[int, Any, Any]  # a key, the resource and the instrumentation scope


def origin_of(span: Any) -> tuple[Any, Any]:
    """The resource and instrumentation scope of a light span or of the SDK's own."""
    shared = getattr(span, "shared", None)
    if shared is not None:
        return shared.resource, shared.scope
    return span.resource, span.instrumentation_scope


class Origins:
    """Each resource and scope that spans name, with a key of its own (kept with the objects,
    so that their ids stay theirs)."""

    def __init__(self) -> None:
        self.by_ids: dict[tuple[int, int], Origin] = {}
        self.by_key: list[Origin] = []
        self.lock = threading.Lock()

    def key_of(self, span: Any) -> int:
        resource, scope = origin_of(span)
        known = self.by_ids.get((id(resource), id(scope)))
        if known is None:
            with self.lock:
                known = self.by_ids.get((id(resource), id(scope)))
                if known is None:
                    known = self.by_ids[(id(resource), id(scope))] = (len(self.by_key),
                                                                      resource, scope)
                    self.by_key.append(known)
        return known[0]

    def told(self, key: int) -> bytes:
        """The message that tells a child the origin of ``key``."""
        _, resource, scope = self.by_key[key]
        return frame(("origin", key, dict(resource.attributes), resource.schema_url, scope.name,
                      scope.version, scope.schema_url))


class Child:
    """One export process: its pipes, the frames given to it and not answered yet (and the
    bytes of them its pipe has not taken), the origins it was told, whether it said it was
    ready and whether it ended. Its owner holds a lock around ``add``, ``write``, ``end`` and
    ``close``."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        assert proc.stdin is not None
        self.fd = proc.stdin.fileno()
        os.set_blocking(self.fd, False)  # a full pipe never holds up the thread that writes
        self.waiting: deque[int] = deque()  # the span count of each frame not answered yet
        self.unsent: deque[tuple[memoryview, int]] = deque()  # bytes, spans
        self.unsent_spans = 0
        self.told: set[int] = set()
        self.ready = False
        self.ended = False

    @classmethod
    def start(cls, command: list[str]) -> Child:
        """A child running ``command`` (``OSError`` when it cannot be run)."""
        return cls(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE))

    def add(self, records: list[tuple[Any, ...]], origins: Origins) -> None:
        """``records`` as one frame, after the origins this child was not told yet."""
        frames = []
        for key in sorted({record[0] for record in records} - self.told):
            self.told.add(key)
            frames.append(origins.told(key))
        frames.append(frame(("spans", records)))
        self.unsent.append((memoryview(b"".join(frames)), len(records)))
        self.unsent_spans += len(records)
        self.waiting.append(len(records))

    def add_flush(self) -> None:
        self.unsent.append((memoryview(frame(("flush",))), 0))

    def write(self) -> bool:
        """As much of the unsent bytes as the pipe takes now; True once none are left."""
        while self.unsent and not self.ended:
            data, spans = self.unsent[0]
            try:
                wrote = os.write(self.fd, data)
            except BlockingIOError:
                return False
            except OSError:  # it ended: its reader counts what it did not answer
                break
            if wrote < len(data):
                self.unsent[0] = (data[wrote:], spans)
                return False
            self.unsent.popleft()
            self.unsent_spans -= spans
        self.unsent.clear()
        self.unsent_spans = 0
        return True

    def answers(self) -> Iterator[tuple[bytes, int]]:
        """Each answer until the child ends: ``(b"R", 0)`` once it is ready, then ``(b"E" or
        b"F", spans)`` for each frame."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            what, _, count = line.strip().partition(b" ")
            self.ready = self.ready or what == b"R"
            yield what, int(count or 0)
        self.proc.wait()

    def end(self) -> int:
        """It ended: the spans of the frames it never answered, which are lost."""
        self.ended = True
        lost = sum(self.waiting)
        self.waiting.clear()
        self.unsent.clear()
        self.unsent_spans = 0
        return lost

    def close(self) -> None:
        """No more frames: it exports what it has and ends (what its pipe did not take is
        lost, counted when it ends)."""
        self.ended = True
        self.unsent.clear()
        self.unsent_spans = 0
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()

    def stop(self, timeout_s: float) -> None:
        """Wait for it to end; kill it if it hangs (its spans are lost with it)."""
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
