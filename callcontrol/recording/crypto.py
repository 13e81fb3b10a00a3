"""Recordings encrypted at rest: AES-256-GCM from ``cryptography``, one file at a time.

A file ``x.wav`` becomes ``x.wav.enc``: ``CCREC1`` (magic), a 12-byte random nonce, then
the ciphertext with its 16-byte tag; the file name is authenticated too (associated data),
so an encrypted file renamed onto another call's does not decrypt. The whole file is
encrypted in one call (a one-hour stereo 8 kHz call is ~115 MB of memory while it is).
The key comes from ``recording.encryption_key`` (base64 of 32 bytes); losing it loses
the recordings.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"CCREC1"
SUFFIX = ".enc"
_NONCE = 12


class DecryptionError(Exception):
    """Not a recording encrypted with this key (wrong key, damaged or renamed file)."""


def key_bytes(encoded: str) -> bytes:
    return base64.b64decode(encoded, validate=True)


def encrypt_file(path: Path, key: bytes) -> Path:
    """Encrypt ``path`` to ``path.enc`` (0600) and remove the plaintext."""
    target = path.with_name(path.name + SUFFIX)
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(key).encrypt(nonce, path.read_bytes(), path.name.encode())
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(MAGIC + nonce + sealed)
    os.chmod(target, 0o600)
    path.unlink()
    return target


def decrypt_file(path: Path, key: bytes) -> bytes:
    data = path.read_bytes()
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _NONCE + 16:
        raise DecryptionError(f"{path.name} is not an encrypted recording")
    nonce = data[len(MAGIC) : len(MAGIC) + _NONCE]
    plain_name = path.name.removesuffix(SUFFIX)
    try:
        return AESGCM(key).decrypt(nonce, data[len(MAGIC) + _NONCE :], plain_name.encode())
    except InvalidTag as exc:
        raise DecryptionError(f"{path.name}: wrong key, or the file was changed") from exc
