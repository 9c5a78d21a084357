"""A backup's dump encrypted at rest with a key the operator holds (``--encrypt-key-file``):
age (X25519 recipients, ChaCha20-Poly1305 in 64 KiB chunks) through ``pyrage``, streamed from
file to file or from ``pg_dump``'s pipe, so a 200 MB dump is never held in memory (about
12 MB of resident memory for a 200 MB file here, either way).

The key file is age's own format (``age-keygen`` writes one; ``rag-core`` reads it):
``AGE-SECRET-KEY-1...`` lines (identities: they encrypt to their public key and decrypt) and
``age1...`` lines (recipients: encrypt only, for a host that takes backups but must never
read them); ``#`` lines are comments. A restore needs an identity.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from rag_core.errors import BackupKeyInvalid

ENCRYPTION = "age"  # the manifest's ``encryption`` of an encrypted dump ("none" otherwise)


def _lines(key_file: str | Path) -> list[str]:
    try:
        text = Path(key_file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupKeyInvalid(f"{key_file}: the key file cannot be read ({exc}).") from exc
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def _identities(lines: list[str], key_file: str | Path) -> list[Any]:
    from pyrage import x25519

    out = []
    for line in lines:
        if line.startswith("AGE-SECRET-KEY-"):
            try:
                out.append(x25519.Identity.from_str(line))
            except Exception as exc:  # noqa: BLE001 - pyrage raises its own types
                raise BackupKeyInvalid(f"{key_file}: an AGE-SECRET-KEY line is not a valid "
                                       "key.") from exc
    return out


def recipients(key_file: str | Path) -> list[Any]:
    """Whom a backup is encrypted to: every identity's public key and every recipient."""
    from pyrage import x25519

    lines = _lines(key_file)
    out = [i.to_public() for i in _identities(lines, key_file)]
    for line in lines:
        if line.startswith("age1"):
            try:
                out.append(x25519.Recipient.from_str(line))
            except Exception as exc:  # noqa: BLE001
                raise BackupKeyInvalid(f"{key_file}: an age1 line is not a valid "
                                       "recipient.") from exc
    if not out:
        raise BackupKeyInvalid(f"{key_file} holds no age key (AGE-SECRET-KEY-1... or age1...).")
    return out


def identities(key_file: str | Path) -> list[Any]:
    """The keys that decrypt a backup (a file of recipients only cannot)."""
    found = _identities(_lines(key_file), key_file)
    if not found:
        raise BackupKeyInvalid(f"{key_file} holds no secret key (AGE-SECRET-KEY-1...): a "
                               "restore needs the key, not only its public half.")
    return found


def encrypt(src: IO[bytes], dst: IO[bytes], key_file: str | Path) -> None:
    """``src`` (a file or a pipe, read to its end) encrypted into ``dst``."""
    import pyrage

    pyrage.encrypt_io(src, dst, recipients(key_file))


def decrypt(src: IO[bytes], dst: IO[bytes], key_file: str | Path) -> None:
    """``src`` from where it stands decrypted into ``dst``: ``BackupKeyInvalid`` for another
    key (or a damaged file, which the manifest's SHA-256 has already ruled out)."""
    import pyrage

    keys = identities(key_file)
    try:
        pyrage.decrypt_io(src, dst, keys)
    except pyrage.DecryptError as exc:
        raise BackupKeyInvalid(f"The backup cannot be decrypted with {key_file}: it was "
                               "encrypted to another key.") from exc
