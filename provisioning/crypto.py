"""AES-encrypted provisioning files, in the format `openssl enc` writes.

Escene's own AES scheme is not public. We use one an administrator can produce with stock
tools on any server:

    openssl enc -aes-256-cbc -pbkdf2 -iter 10000 -md sha256 -salt -pass pass:KEY -in F -out F.enc

i.e. ``Salted__`` + 8 random salt bytes + AES-256-CBC ciphertext with PKCS#7 padding, where
key (32 bytes) and IV (16 bytes) are the first 48 bytes of PBKDF2-HMAC-SHA256(KEY as UTF-8,
salt, 10000). An encrypted file keeps the plain file's name; the phone tells the two apart by
the ``Salted__`` magic. docs/provisioning-files.md has the details and command lines.
"""
from __future__ import annotations

import hashlib
import os
import re

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from provisioning.errors import DecryptError

MAGIC = b"Salted__"
SALT_BYTES = 8
ITERATIONS = 10_000
_BLOCK = 16


def is_encrypted(data: bytes) -> bool:
    """True when `data` starts with OpenSSL's ``Salted__`` magic."""
    return data[:len(MAGIC)] == MAGIC


def _key_iv(key: str, salt: bytes) -> tuple[bytes, bytes]:
    material = hashlib.pbkdf2_hmac("sha256", key.encode("utf-8"), salt, ITERATIONS, 48)
    return material[:32], material[32:]


def _need_key(key: str) -> None:
    if not key:
        raise ValueError("the AES key is empty")


def encrypt(data: bytes, key: str, *, salt: bytes | None = None) -> bytes:
    """`data` encrypted as ``openssl enc -aes-256-cbc -pbkdf2 -iter 10000 -md sha256``."""
    _need_key(key)
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    if len(salt) != SALT_BYTES:
        raise ValueError(f"the salt must be {SALT_BYTES} bytes")
    k, iv = _key_iv(key, salt)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(data) + padder.finalize()
    enc = Cipher(algorithms.AES(k), modes.CBC(iv)).encryptor()
    return MAGIC + salt + enc.update(plain) + enc.finalize()


def _cbc_decrypt(body: bytes, k: bytes, iv: bytes) -> bytes | None:
    """Plaintext, or None when the PKCS#7 padding is wrong."""
    dec = Cipher(algorithms.AES(k), modes.CBC(iv)).decryptor()
    plain = dec.update(body) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(plain) + unpadder.finalize()
    except ValueError:
        return None


def _split(data: bytes, name: str) -> tuple[bytes, bytes]:
    if not is_encrypted(data):
        raise DecryptError(f"{name} is not AES-encrypted (no 'Salted__' header)")
    salt, body = data[len(MAGIC):len(MAGIC) + SALT_BYTES], data[len(MAGIC) + SALT_BYTES:]
    if len(salt) != SALT_BYTES or not body or len(body) % _BLOCK:
        raise DecryptError(f"{name} is damaged: an AES-encrypted file is 'Salted__', 8 bytes "
                           f"of salt and a multiple of 16 bytes (got {len(data)} bytes in all)")
    return salt, body


def decrypt(data: bytes, key: str, *, name: str = "the file") -> bytes:
    """The plaintext of an ``openssl enc`` file; checks only the padding (see `open_file`)."""
    _need_key(key)
    salt, body = _split(data, name)
    plain = _cbc_decrypt(body, *_key_iv(key, salt))
    if plain is None:
        raise DecryptError(_wrong_key(data, key, name))
    return plain


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASCII_TEXT = re.compile(r"[\x20-\x7e\t\r\n]*")


def plausible(plain: bytes) -> bool:
    """Does a decrypted file look like one of ours: UTF-8 text without control characters
    that starts with '<' (XML) or is plain ASCII (the version file)?

    CBC padding alone accepts about 1 wrong key in 256; random bytes that also pass this
    are vanishingly rare.
    """
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if _CONTROL.search(text):
        return False
    body = text.lstrip("\ufeff \t\r\n")
    return body.startswith("<") or (bool(body) and _ASCII_TEXT.fullmatch(text) is not None)


def _evp_bytes_to_key(key: bytes, salt: bytes, digest: str) -> tuple[bytes, bytes]:
    out, block = b"", b""
    while len(out) < 48:
        block = hashlib.new(digest, block + key + salt).digest()
        out += block
    return out[:32], out[32:48]


def _wrong_key(data: bytes, key: str, name: str) -> str:
    """The message for a file our key cannot open; names openssl's old key derivation when
    that is what the server used (openssl enc without -pbkdf2)."""
    salt, body = data[len(MAGIC):len(MAGIC) + SALT_BYTES], data[len(MAGIC) + SALT_BYTES:]
    for digest in ("sha256", "md5"):
        plain = _cbc_decrypt(body, *_evp_bytes_to_key(key.encode("utf-8"), salt, digest))
        if plain is not None and plausible(plain):
            return (f"{name} was encrypted without -pbkdf2 (openssl's old, weak key "
                    f"derivation): encrypt it again with: openssl enc -aes-256-cbc -pbkdf2 "
                    f"-iter {ITERATIONS} -md sha256 -salt -pass pass:KEY")
    return f"{name}: wrong AES key (or damaged file)"


def open_file(data: bytes, key: str, *, name: str, required: bool) -> bytes:
    """The plain bytes of a provisioning file that may be encrypted.

    `key` is provisioning.aes_key ('' = none). `required` (the engine passes True for
    settings, keys and phone book files whenever a key is set) refuses a plain file: an
    administrator who set a key expects a plain file planted on the path to be rejected.
    """
    if not is_encrypted(data):
        if required:
            raise DecryptError(f"{name} is not encrypted but provisioning.aes_key is set: "
                               f"refused (a forged file?). Encrypt it on the server "
                               f"(python -m provisioning encrypt) or clear the key")
        return data
    if not key:
        raise DecryptError(f"{name} is AES-encrypted: set provisioning.aes_key")
    plain = decrypt(data, key, name=name)
    if not plausible(plain):
        raise DecryptError(_wrong_key(data, key, name))
    return plain
