"""What another local account of the machine can reach: a probe run as ``nobody`` in a child
process (``os.fork`` then ``setuid``: no interpreter or file of ours needs to be readable by
it). The tests run as root; elsewhere they skip, but CI (``CI=true``, root) must run them."""

from __future__ import annotations

import os
import pwd
import socket
from pathlib import Path

import pytest

DENIED = "EACCES"


def need_root() -> pwd.struct_passwd:
    """The account ``nobody``, when this process may become it (else skip; fail under CI)."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs the tests as root, so the other-account probes must run there")
        pytest.skip("running a probe as another account needs root")
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("this machine has no account `nobody`")


def _probe(kind: str, where: str) -> str:
    try:
        if kind == "file":
            return Path(where).read_text()[:200]
        if kind == "list":
            return " ".join(sorted(os.listdir(where)))
        if kind == "unix":
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(5)
            sock.connect(where)
        else:
            sock = socket.create_connection(("127.0.0.1", int(where)), timeout=5)
        with sock:
            sock.sendall(b"DBSIZE\r\n")
            return sock.recv(200).decode("utf-8", "replace").strip()
    except PermissionError:
        return DENIED
    except OSError as exc:
        return type(exc).__name__


def as_nobody(kind: str, where: str | Path) -> str:
    """What ``nobody`` gets: a file's text (``kind`` ``file``), a folder's names (``list``),
    or a Redis' answer to
    ``DBSIZE`` on a Unix socket (``unix``) or a loopback port (``tcp``); ``EACCES`` when the
    system refuses, or the name of another error."""
    account = need_root()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery from here on, only the probe
        code = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            os.write(write, _probe(kind, str(where)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 4096):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the probe as nobody did not run"
    return b"".join(chunks).decode()
