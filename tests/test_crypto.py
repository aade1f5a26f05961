"""AES files: what `openssl enc` writes the phone reads and the other way round; a wrong
key or a planted plain file is refused with a message that says what to do."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning import crypto
from provisioning.errors import DecryptError

CONFIG = b'<?xml version="1.0" encoding="UTF-8"?>\n<all><sipUsers/></all>\n'
KEY = "correct horse battery"
OPENSSL = ["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-iter", "10000", "-md", "sha256"]
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")


ROOT = Path(__file__).resolve().parent.parent


def cli(*args):
    return subprocess.run([sys.executable, "-m", "provisioning", *args], capture_output=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_round_trip_and_the_file_layout():
    data = crypto.encrypt(CONFIG, KEY)
    assert data.startswith(b"Salted__") and crypto.is_encrypted(data)
    assert (len(data) - 16) % 16 == 0 and len(data) > len(CONFIG) + 16
    assert crypto.decrypt(data, KEY) == CONFIG
    assert crypto.encrypt(CONFIG, KEY) != data                     # a fresh salt every time
    assert not crypto.is_encrypted(CONFIG)


@needs_openssl
def test_openssl_reads_what_we_write(tmp_path):
    (tmp_path / "f.xml").write_bytes(crypto.encrypt(CONFIG, KEY))
    out = subprocess.run(OPENSSL + ["-d", "-pass", f"pass:{KEY}", "-in", str(tmp_path / "f.xml")],
                         capture_output=True, check=True).stdout
    assert out == CONFIG


@needs_openssl
def test_we_read_what_openssl_writes(tmp_path):
    (tmp_path / "f.xml").write_bytes(CONFIG)
    for extra in (["-salt", "-k", KEY], ["-salt", "-pass", f"pass:{KEY}"]):
        subprocess.run(OPENSSL + extra + ["-in", str(tmp_path / "f.xml"), "-out",
                                          str(tmp_path / "f.enc")], check=True)
        data = (tmp_path / "f.enc").read_bytes()
        assert crypto.open_file(data, KEY, name="f.xml", required=True) == CONFIG


@needs_openssl
def test_the_short_openssl_command_is_the_same_format(tmp_path):
    """-iter 10000 and -md sha256 are openssl 3's defaults for -pbkdf2."""
    (tmp_path / "f.xml").write_bytes(CONFIG)
    subprocess.run(["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-pass", f"pass:{KEY}",
                    "-in", str(tmp_path / "f.xml"), "-out", str(tmp_path / "f.enc")],
                   check=True)
    assert crypto.decrypt((tmp_path / "f.enc").read_bytes(), KEY) == CONFIG


@needs_openssl
def test_openssl_without_pbkdf2_gets_a_hint(tmp_path):
    (tmp_path / "f.xml").write_bytes(CONFIG)
    subprocess.run(["openssl", "enc", "-aes-256-cbc", "-salt", "-pass", f"pass:{KEY}",
                    "-in", str(tmp_path / "f.xml"), "-out", str(tmp_path / "f.enc")],
                   check=True, capture_output=True)
    with pytest.raises(DecryptError, match="without -pbkdf2"):
        crypto.open_file((tmp_path / "f.enc").read_bytes(), KEY, name="f.xml", required=True)


def test_a_wrong_key_is_refused():
    data = crypto.encrypt(CONFIG, KEY)
    with pytest.raises(DecryptError, match=r"^f.xml: wrong AES key \(or damaged file\)$"):
        crypto.open_file(data, "not the key", name="f.xml", required=True)


def test_a_wrong_key_that_passes_the_padding_check_is_still_refused():
    data = crypto.encrypt(b"<all><sipUsers/></all>\n", "right key", salt=b"saltsalt")
    garbage = crypto.decrypt(data, "wrong 42")        # 1 key in ~256 has valid padding
    assert garbage != b"<all><sipUsers/></all>\n"
    with pytest.raises(DecryptError, match="wrong AES key"):
        crypto.open_file(data, "wrong 42", name="f.xml", required=True)


def test_a_damaged_file_is_refused():
    data = crypto.encrypt(CONFIG, KEY)
    with pytest.raises(DecryptError, match="damaged"):
        crypto.open_file(data[:-3], KEY, name="f.xml", required=True)
    with pytest.raises(DecryptError, match="wrong AES key"):
        crypto.open_file(data[:16] + bytes(16) + data[32:], KEY, name="f.xml", required=True)


def test_an_encrypted_file_without_a_key_says_what_to_set():
    with pytest.raises(DecryptError, match=r"^f.xml is AES-encrypted: set "
                                           r"provisioning.aes_key$"):
        crypto.open_file(crypto.encrypt(CONFIG, KEY), "", name="f.xml", required=False)


def test_with_a_key_set_a_plain_file_is_refused():
    with pytest.raises(DecryptError, match="not encrypted but provisioning.aes_key is set"):
        crypto.open_file(CONFIG, KEY, name="f.xml", required=True)


def test_without_a_key_plain_files_pass_through():
    assert crypto.open_file(CONFIG, "", name="f.xml", required=False) is CONFIG


def test_the_version_file_text_counts_as_plausible():
    version = b"S2_DP330_version1.2.0\n"
    assert crypto.open_file(crypto.encrypt(version, KEY), KEY, name="F0DP330.cfg",
                            required=False) == version
    assert crypto.plausible(b"\xef\xbb\xbf<all/>")
    assert crypto.plausible("<all Describe='Ånne'/>".encode())
    assert not crypto.plausible(b"\x00\x01<all/>")
    assert not crypto.plausible(b"plain \xff text")
    assert not crypto.plausible("Ånne".encode())          # not XML, not ASCII
    assert not crypto.plausible(b"")


def test_an_empty_key_is_a_usage_error():
    with pytest.raises(ValueError):
        crypto.encrypt(CONFIG, "")


# --- the command line --------------------------------------------------------------------

def test_encrypt_in_place_keeps_the_name_and_mode(tmp_path):
    f = tmp_path / "00268b1a2b3c.xml"
    f.write_bytes(CONFIG)
    f.chmod(0o640)
    r = cli("encrypt", "--key", KEY, str(f))
    assert r.returncode == 0, r.stderr
    assert crypto.decrypt(f.read_bytes(), KEY) == CONFIG
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    r = cli("encrypt", "--key", KEY, str(f))
    assert r.returncode == 1 and b"already encrypted" in r.stderr
    r = cli("decrypt", "--key", KEY, str(f))
    assert r.returncode == 0 and r.stdout == CONFIG


def test_decrypt_to_a_file_and_a_key_file(tmp_path):
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "f.enc").write_bytes(crypto.encrypt(CONFIG, KEY))
    r = cli("decrypt", "--key-file", str(tmp_path / "key"), str(tmp_path / "f.enc"),
            str(tmp_path / "f.xml"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f.xml").read_bytes() == CONFIG
    assert stat.S_IMODE((tmp_path / "f.xml").stat().st_mode) == 0o644


def test_cli_errors_and_exit_codes(tmp_path):
    (tmp_path / "f.enc").write_bytes(crypto.encrypt(CONFIG, KEY))
    r = cli("decrypt", "--key", "nope", str(tmp_path / "f.enc"))
    assert r.returncode == 1 and b"wrong AES key" in r.stderr and r.stdout == b""
    r = cli("decrypt", str(tmp_path / "f.enc"))
    assert r.returncode == 2 and b"--key KEY or --key-file FILE" in r.stderr
    r = cli("encrypt", "--key", KEY, str(tmp_path / "missing.xml"))
    assert r.returncode == 1 and b"missing.xml: no such file" in r.stderr
    r = cli("frobnicate")
    assert r.returncode == 2
