"""A backup's key file (``--encrypt-key-file``, age's own format) read as an operator writes it:
identities encrypt and decrypt, recipients only encrypt, and every key file that cannot work is
refused with ``BACKUP_KEY_INVALID`` naming what is wrong, before anything is written."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pyrage import x25519

from rag_core.errors import BackupKeyInvalid
from rag_core.ops import backup_crypt

DUMP = b"-- PostgreSQL database dump\n" + bytes(range(256)) * 600  # past one 64 KiB chunk


def key_file(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(("# created: by the test", *lines, "")))
    return path


def sealed(key: Path) -> bytes:
    out = io.BytesIO()
    backup_crypt.encrypt(io.BytesIO(DUMP), out, key)
    return out.getvalue()


def test_an_identity_encrypts_and_decrypts_the_dump(tmp_path: Path) -> None:
    key = key_file(tmp_path, "key.txt", str(x25519.Identity.generate()))
    secret = sealed(key)
    assert secret.startswith(b"age-encryption.org/v1") and DUMP[:64] not in secret
    back = io.BytesIO()
    backup_crypt.decrypt(io.BytesIO(secret), back, key)
    assert back.getvalue() == DUMP


def test_a_host_holding_only_the_public_half_backs_up_but_cannot_restore(
        tmp_path: Path) -> None:
    identity = x25519.Identity.generate()
    public = key_file(tmp_path, "public.txt", str(identity.to_public()))
    secret = sealed(public)
    with pytest.raises(BackupKeyInvalid, match="holds no secret key"):
        backup_crypt.decrypt(io.BytesIO(secret), io.BytesIO(), public)
    private = key_file(tmp_path, "private.txt", str(identity))
    back = io.BytesIO()
    backup_crypt.decrypt(io.BytesIO(secret), back, private)
    assert back.getvalue() == DUMP


def test_another_key_cannot_decrypt(tmp_path: Path) -> None:
    secret = sealed(key_file(tmp_path, "one.txt", str(x25519.Identity.generate())))
    other = key_file(tmp_path, "other.txt", str(x25519.Identity.generate()))
    with pytest.raises(BackupKeyInvalid, match="encrypted to another key"):
        backup_crypt.decrypt(io.BytesIO(secret), io.BytesIO(), other)


@pytest.mark.parametrize(("lines", "message"), [
    (("AGE-SECRET-KEY-1NOTAKEY",), "an AGE-SECRET-KEY line is not a valid key"),
    (("age1notarecipient",), "an age1 line is not a valid recipient"),
    (("ssh-ed25519 AAAA... someone@host",), "holds no age key"),
    ((), "holds no age key"),
])
def test_a_key_file_that_cannot_work_is_refused_naming_why(
        tmp_path: Path, lines: tuple[str, ...], message: str) -> None:
    bad = key_file(tmp_path, "bad.txt", *lines)
    out = io.BytesIO()
    with pytest.raises(BackupKeyInvalid, match=message) as refused:
        backup_crypt.encrypt(io.BytesIO(DUMP), out, bad)
    assert str(bad) in str(refused.value) and out.getvalue() == b""  # nothing written
    assert refused.value.code == "BACKUP_KEY_INVALID"


def test_a_key_file_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupKeyInvalid, match="cannot be read"):
        backup_crypt.recipients(tmp_path / "missing.txt")
    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\xff\xfe\x00age")
    with pytest.raises(BackupKeyInvalid, match="cannot be read"):
        backup_crypt.identities(binary)
