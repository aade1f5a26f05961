"""Sending a file to a server (a phone book backup: the manual's TFTP/FTP Upgrade "Phone
Book: backup"), against the real servers of tests/peers/servers.py set up to take writes:
tftpd-hpa with --create, vsftpd with write_enable, nginx with PUT. What arrives on the
server's disk is compared byte for byte; a server that refuses says how to let it.

Fetcher.put and provisioning/tftp.py's upload; the reading side: tests/test_fetch.py.
"""
from __future__ import annotations

import os

import pytest

from provisioning import tftp
from provisioning.errors import AuthFailed, FetchError, FetchTimeout
from provisioning.fetch import Fetcher, parse_server
from tests.peers.fixtures import nginx  # noqa: F401  (fixture)
from tests.peers.ports import HOST, free_port
from tests.peers.servers import Tftpd, Vsftpd
from tests.test_fetch import UA, silent_port  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(120)

BOOK = os.urandom(3 * tftp.BLKSIZE + 77)         # not a multiple of any block size


@pytest.fixture
def tftp_writable(tmp_path):
    with Tftpd(tmp_path / "tftpd", writable=True) as server:
        yield server


@pytest.fixture
def ftp_writable(tmp_path):
    with Vsftpd(tmp_path / "vsftpd", writable=True) as server:
        server.writable_dir("backup")
        yield server


def put(url: str, name: str, data: bytes, **kw) -> None:
    kw.setdefault("timeout", 3.0)
    Fetcher(parse_server(url), user_agent=UA, **kw).put(name, data)


@pytest.mark.parametrize("size", [0, 511, 512, tftp.BLKSIZE, len(BOOK), 100_000])
@pytest.mark.parametrize("refuse", [(), ("blksize", "tsize")], ids=["options", "rfc1350"])
def test_a_tftp_write_arrives_byte_exact(tmp_path, size, refuse):
    data = (BOOK * 40)[:size]
    with Tftpd(tmp_path / "tftpd", writable=True, refuse=refuse) as server:
        put(server.url(""), "Personal_Phonebook.xml", data)
        assert (server.root / "Personal_Phonebook.xml").read_bytes() == data


def test_a_tftp_write_uses_big_blocks_when_the_server_agrees(tftp_writable, monkeypatch):
    sent = []
    real = tftp._Upload.send
    monkeypatch.setattr(tftp._Upload, "send",
                        lambda self, packet, to: (sent.append(packet), real(self, packet, to)))
    n = tftp.upload(HOST, tftp_writable.port, "a.bin", BOOK, timeout=3)
    data = [p[4:] for p in sent if p[:2] == b"\x00\x03"]
    assert n == len(BOOK) and [len(d) for d in data] == [tftp.BLKSIZE] * 3 + [77]
    assert (tftp_writable.root / "a.bin").read_bytes() == BOOK


def test_tftp_write_block_numbers_wrap_around(tftp_writable):
    # 8-byte blocks: 65536 of them are 512 KB, so block 65535 is followed by block 0.
    data = os.urandom(65536 * 8 + 5)
    put(tftp_writable.url(""), "wrap.bin", data, tftp_blksize=8, deadline=120)
    assert (tftp_writable.root / "wrap.bin").read_bytes() == data


def test_a_tftp_server_that_creates_no_files_says_how_to_let_it(tmp_path):
    with Tftpd(tmp_path / "tftpd") as server:             # no --create
        with pytest.raises(AuthFailed) as e:
            put(server.url(""), "Personal_Phonebook.xml", BOOK)
    assert "the TFTP server refused to write it (error 1: File not found)" in str(e.value)
    assert "--create" in str(e.value)
    assert not (server.root / "Personal_Phonebook.xml").exists()


def test_a_tftp_directory_the_server_may_not_write_is_refused(tftp_writable):
    tftp_writable.put("locked/.keep", b"")
    (tftp_writable.root / "locked").chmod(0o755)          # root's; tftpd writes as tftp
    with pytest.raises(AuthFailed, match="Permission denied"):
        put(tftp_writable.url("locked"), "Personal_Phonebook.xml", BOOK)


def test_an_ftp_stor_arrives_byte_exact(ftp_writable):
    put(ftp_writable.url("backup", user=True), "Enterprise_Phonebook.xml", BOOK)
    assert (ftp_writable.root / "backup" / "Enterprise_Phonebook.xml").read_bytes() == BOOK
    ftp_writable.wait_transfer("OK UPLOAD", "/backup/Enterprise_Phonebook.xml")


def test_an_ftp_directory_the_user_may_not_write_says_so(ftp_writable):
    with pytest.raises(AuthFailed) as e:
        put(ftp_writable.url("", user=True), "Personal_Phonebook.xml", BOOK)
    assert "the FTP server refused to store it (553 Could not create file.)" in str(e.value)


def test_an_ftp_wrong_password_is_a_refused_login(ftp_writable):
    url = ftp_writable.url("backup", user=True).replace(ftp_writable.password, "wrong")
    with pytest.raises(AuthFailed, match="login refused"):
        put(url, "Personal_Phonebook.xml", BOOK)
    assert not (ftp_writable.root / "backup" / "Personal_Phonebook.xml").exists()


def test_an_http_put_arrives_and_a_server_that_takes_none_says_so(nginx):  # noqa: F811
    put(nginx.url("put/books"), "Personal_Phonebook.xml", BOOK)
    assert (nginx.www / "put" / "books" / "Personal_Phonebook.xml").read_bytes() == BOOK
    with pytest.raises(FetchError, match=r"takes no files there \(HTTP 405\)"):
        put(nginx.url("files"), "Personal_Phonebook.xml", BOOK)


@pytest.mark.parametrize("scheme", ["tftp", "ftp", "http"])
def test_a_server_that_is_down_is_named(scheme):
    port = free_port("udp" if scheme == "tftp" else "tcp")
    with pytest.raises(FetchError) as e:
        put(f"{scheme}://{HOST}:{port}/books", "Personal_Phonebook.xml", BOOK)
    assert f"{scheme}://{HOST}:{port}/books/Personal_Phonebook.xml" in str(e.value)
    assert "server running" in str(e.value)


@pytest.mark.parametrize("silent_port", ["tftp", "ftp"], indirect=True)
def test_a_server_that_never_answers_times_out(silent_port, request):  # noqa: F811
    scheme = request.node.callspec.params["silent_port"]
    with pytest.raises(FetchTimeout, match="no answer in 0.5 s"):
        put(f"{scheme}://{HOST}:{silent_port}/b", "Personal_Phonebook.xml", BOOK,
            timeout=0.5)
