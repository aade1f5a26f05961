"""Phone book update from and backup to a server (the manual's FTP Upgrade / TFTPUpgrade
"Phone Book: update/backup"; firmware/directory/remote.py through firmware.api.Api) over
the in-process phone of tests/fakes and the REAL servers of tests/peers/servers.py:
tftpd-hpa, vsftpd and nginx on 127.0.0.1. What a person would check is checked: the
contacts on the phone's LCD and in its files after an update, the file on the server's
disk after a backup (byte for byte the download), and for a dead server, a bad file or a
bad URL the message and that nothing changed.

The same from the web page: tests/test_web_bookremote.py.
"""
from __future__ import annotations

import asyncio
import json
import socket

import pytest

from firmware.directory.formats import FileRefused
from firmware.directory.remote import RemoteError
from provisioning.phonebook import Phonebook
from tests.fakes import build
from tests.peers.fixtures import nginx, tftpd  # noqa: F401  (fixtures)
from tests.peers.ports import HOST, free_port
from tests.peers.servers import Tftpd, Vsftpd
from tests.test_directory_lcd import stored
from tests.test_phonebook_files import DIRECTORY, ESCENE, PHONEBOOK
from tests.test_web_phonebook import PROVISIONED, Api

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def rig(tmp_path):
    stored(tmp_path, "personal", PROVISIONED)
    # One second of silence is a dead server: the dead-server tests end quickly.
    return build({"provisioning.timeout": 1}, data_dir=tmp_path)


@pytest.fixture
def patient(tmp_path):
    """The factory's 10 s: vsftpd (PAM) answers a wrong password after about 2 s."""
    stored(tmp_path, "personal", PROVISIONED)
    return build(data_dir=tmp_path)


@pytest.fixture
def ftp(tmp_path):
    """vsftpd taking writes: the local user's files in root/books (also writable)."""
    with Vsftpd(tmp_path / "vsftpd", writable=True) as server:
        server.writable_dir("books")
        yield server


@pytest.fixture
def tftp(tmp_path):
    with Tftpd(tmp_path / "tftpd-w", writable=True) as server:
        yield server


def run(coro):
    return asyncio.run(coro)


def own(rig) -> dict:
    path = rig.data_dir / "phonebook" / "own.json"
    return json.loads(path.read_text()) if path.exists() else {"contacts": [], "groups": []}


def enterprise(rig) -> Phonebook:
    return Phonebook.load(rig.data_dir / "phonebook" / "enterprise.json")


def refused(rig, coro) -> str:
    """The reason a remote update or backup gives (nothing changed is checked by the
    caller)."""
    with pytest.raises(ValueError) as e:
        run(coro)
    rig.settle()
    return str(e.value)


# ----- update: the file on the server into the phone -----

def test_an_update_from_tftp_puts_its_contacts_on_the_lcd(rig, tftpd):  # noqa: F811
    tftpd.put("books/directory.xml", DIRECTORY)
    out = run(Api(rig).update_phonebook("personal", tftpd.url("books/directory.xml")))
    rig.settle()
    assert out["format"] == "yealink" and out["contacts"] == 2
    assert out["url"] == f"tftp://{HOST}:{tftpd.port}/books/directory.xml"
    assert [c["first_name"] for c in own(rig)["contacts"]] == ["Erika", "Reception"]
    rig.walk("Phone book", "Personal phone book", "View all")
    assert "Erika Mustermann" in rig.lcd and "Reception" in rig.lcd


def test_an_update_from_ftp_with_a_login_fills_the_enterprise_book(rig, ftp):
    ftp.put("books/Enterprise_Phonebook.xml", ESCENE.encode())
    url = ftp.url("books/Enterprise_Phonebook.xml", user=True)
    assert ftp.password in url
    out = run(Api(rig).update_phonebook("enterprise", url))
    rig.settle()
    assert out["format"] == "escene" and out["contacts"] == 3 and out["groups"] == 2
    assert ftp.password not in out["url"]
    assert [c.name for c in enterprise(rig).contacts] == ["Ánh Nguyễn", "Иван Петров",
                                                          "王 小明"]
    assert own(rig)["contacts"] == []                 # the personal book untouched


def test_an_update_from_http_behind_a_login(rig, nginx):  # noqa: F811
    nginx.put("pbx/phonebook.xml", PHONEBOOK.encode())
    url = nginx.url("private/pbx/phonebook.xml").replace(
        "://", f"://{nginx.user}:{nginx.password}@")
    out = run(Api(rig).update_phonebook("personal", url))
    assert out["contacts"] == 3 and out["groups"] == 1
    assert [c["first_name"] for c in own(rig)["contacts"]] == ["Jo", "Zoë van", "Lobby"]
    assert any("/private/pbx/phonebook.xml" in line and " 200 " in line
               and f"user={nginx.user}" in line for line in nginx.requests())


def test_an_update_from_the_urls_pbxs_hand_out_with_a_query(rig, nginx, caplog):  # noqa: F811
    """A PBX's remote phone book URL carries a query (Wazo's ".../yealink?xivo_user_uuid=",
    FusionPBX's ".../provision/?file=directory.xml"): it reaches the server as typed, and
    people read "?…" (it may be a token) in the answer and the log."""
    nginx.put("0.1/directories/input/default/yealink", DIRECTORY)
    url = nginx.url("0.1/directories/input/default/yealink") + "?xivo_user_uuid=6f1c&t=s3cr%3Dt"
    with caplog.at_level("INFO"):
        out = run(Api(rig).update_phonebook("enterprise", url))
    assert out["contacts"] == len(enterprise(rig).contacts) > 0
    assert out["url"].endswith("/0.1/directories/input/default/yealink?…")
    assert any('"GET /0.1/directories/input/default/yealink?xivo_user_uuid=6f1c&t=s3cr%3Dt '
               in line and " 200 " in line for line in nginx.requests())
    # the query names the file: a directory's URL (nginx answers with its index.html)
    nginx.put("app/provision/index.html", PHONEBOOK.encode())
    out = run(Api(rig).update_phonebook("personal", nginx.url("app/provision")
                                        + "/?file=directory.xml&mac=001122334455"))
    assert out["contacts"] == 3 and out["url"].endswith("/app/provision/?…")
    assert [c["first_name"] for c in own(rig)["contacts"]] == ["Jo", "Zoë van", "Lobby"]
    assert any('"GET /app/provision/?file=directory.xml&mac=001122334455 ' in line
               for line in nginx.requests())
    assert "s3cr" not in caplog.text and "mac=0011" not in caplog.text


def test_a_bad_file_on_the_server_names_its_line_and_changes_nothing(rig, tftpd):  # noqa: F811,E501
    api = Api(rig)
    tftpd.put("mine.xml", ESCENE.encode())
    run(api.update_phonebook("personal", tftpd.url("mine.xml")))
    before = own(rig)
    tftpd.put("bad.xml", ESCENE.replace('MobileNum="0912345678"', 'MobileNum="abc"').encode())
    with pytest.raises(FileRefused) as e:
        run(api.update_phonebook("personal", tftpd.url("bad.xml")))
    assert e.value.problems == ["line 8: <book> Mobile: 1-19 digits (0-9 * #, a leading +) — 'abc'"]
    assert own(rig) == before


def test_a_file_that_is_not_there_says_so(rig, tftpd):  # noqa: F811
    why = refused(rig, Api(rig).update_phonebook("personal", tftpd.url("nope.xml")))
    assert why.startswith(f"tftp://{HOST}:{tftpd.port}/nope.xml: not on the server")
    assert "check the file name and the path in the URL" in why
    assert own(rig)["contacts"] == []


def test_a_wrong_ftp_password_speaks_of_the_url_not_of_provisioning(patient, ftp):
    rig = patient
    ftp.put("books/b.xml", ESCENE.encode())
    url = ftp.url("books/b.xml", user=True).replace(ftp.password, "wrong")
    why = refused(rig, Api(rig).update_phonebook("personal", url))
    assert "login refused" in why and "the user and password in the URL" in why
    assert "provisioning." not in why and "wrong" not in why


@pytest.mark.parametrize("scheme", ["tftp", "ftp"])
def test_a_dead_server_changes_nothing_and_the_loop_goes_on(rig, scheme):
    """A server that takes the request and never answers: the update waits in a worker
    thread, the phone's loop serves other work meanwhile, then the message says so."""
    kind = socket.SOCK_DGRAM if scheme == "tftp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as silent:
        silent.bind((HOST, 0))
        if scheme == "ftp":
            silent.listen(1)
        silent.setblocking(False)
        url = f"{scheme}://{HOST}:{silent.getsockname()[1]}/books/Personal_Phonebook.xml"

        async def t():
            loop = asyncio.get_running_loop()
            update = asyncio.create_task(Api(rig).update_phonebook("personal", url))
            # the loop itself takes what the update sends: it is free while it waits
            if scheme == "tftp":
                request, _ = await loop.sock_recvfrom(silent, 1024)
                assert request[:2] == b"\x00\x01" and b"Personal_Phonebook.xml" in request
                held = None
            else:
                held, _ = await loop.sock_accept(silent)     # connected, never a greeting
            assert not update.done()
            try:
                with pytest.raises(RemoteError) as e:
                    await update
            finally:
                if held is not None:
                    held.close()
            return str(e.value)
        why = run(t())
    assert why == (f"{url}: no answer in 1 s — is the {scheme.upper()} server running and "
                   f"reachable?")
    assert own(rig)["contacts"] == []


def test_a_server_that_is_down_is_named(rig):
    port = free_port("tcp")
    why = refused(rig, Api(rig).update_phonebook("personal", f"ftp://{HOST}:{port}/b.xml"))
    assert why.startswith(f"ftp://{HOST}:{port}/b.xml: connection refused at {HOST}:{port}")


@pytest.mark.parametrize("url, says", [
    ("", "enter the URL of the phone book file, e.g. tftp://"),
    ("ldap://10.0.0.5/book.xml", "'ldap://': the URL starts with tftp://, ftp://, http:// or "
                                 "https://"),
    ("file:///etc/passwd", "'file://': the URL starts with tftp://"),
    ("10.0.0.5/book.xml", "no protocol: the URL starts with tftp://"),
    ("tftp://10.0.0.5/books/", "the URL ends in '/': add the phone book file's name"),
    ("tftp://10.0.0.5:70000/b.xml", "the port must be a number from 1 to 65535"),
    ("tftp://10.0.0.5/b.xml?x=1", "a tftp:// URL names a file: no '?' (only an http://"),
    ("ftp://10.0.0.5/b.xml?x=1", "an ftp:// URL names a file: no '?'"),
    ("ftp://u:pa?ss@10.0.0.5/b.xml", "in a password, write '?' as %3F"),
    ("https://alice:s3cr?t@pbx.example.com/d/b.xml", "in a password, write '?' as %3F"),
    ("http://u:1234?x@10.0.0.5/b.xml", "in a password, write '?' as %3F"),
    ("http://10.0.0.5/b.xml?", "the query after '?' is empty"),
    ("http://10.0.0.5/b.xml?a=b c", "the query after '?' is empty or holds spaces"),
    ("http://10.0.0.5/b.xml?name=Zoë", "non-ASCII characters: write them %-encoded"),
    ("http://10.0.0.5/b.xml#top", "no '#' in the URL"),
    ("https://10.0.0.5/books/", "the URL ends in '/': add the phone book file's name"),
])
def test_a_url_that_is_not_one_is_refused_before_any_network(rig, url, says):
    assert says in refused(rig, Api(rig).update_phonebook("personal", url))
    assert own(rig)["contacts"] == []


# ----- backup: the phone's book onto the server -----

def test_a_backup_to_tftp_is_the_download_byte_for_byte(rig, tftp):
    api = Api(rig)
    out = run(api.backup_phonebook("personal", "escene", tftp.url("") + "/"))
    data, name = api.export_phonebook("personal", "escene")
    assert name == "Personal_Phonebook.xml" and out["url"].endswith("/Personal_Phonebook.xml")
    assert (tftp.root / name).read_bytes() == data
    assert out["contacts"] == 1 and out["bytes"] == len(data)


def test_a_backup_to_ftp_in_yealink_xml_is_the_download(rig, ftp, tftpd):  # noqa: F811
    api = Api(rig)
    tftpd.put("e.xml", ESCENE.encode())
    run(api.update_phonebook("enterprise", tftpd.url("e.xml")))
    url = ftp.url("books/ent.xml", user=True)
    out = run(api.backup_phonebook("enterprise", "yealink", url))
    assert ftp.password not in out["url"] and out["contacts"] == 3
    data, _ = api.export_phonebook("enterprise", "yealink")
    assert (ftp.root / "books" / "ent.xml").read_bytes() == data
    # and back: the backup fills a book with the same contacts
    assert run(api.update_phonebook("personal", ftp.url("books/ent.xml")))["contacts"] == 3


def test_a_backup_by_http_put(rig, nginx):  # noqa: F811
    api = Api(rig)
    run(api.backup_phonebook("personal", "yealink", nginx.url("put/") + "/"))
    data, name = api.export_phonebook("personal", "yealink")
    assert (nginx.www / "put" / name).read_bytes() == data


def test_a_backup_the_server_refuses_says_what_it_answered(rig, ftp, tmp_path):
    why = refused(rig, Api(rig).backup_phonebook(
        "personal", "escene", ftp.url("Personal_Phonebook.xml", user=True)))
    assert "the FTP server refused to store it (553 Could not create file.)" in why
    with Tftpd(tmp_path / "readonly") as ro:
        why = refused(rig, Api(rig).backup_phonebook("personal", "escene",
                                                     ro.url("Personal_Phonebook.xml")))
    assert "the TFTP server refused to write it (error 1: File not found)" in why
    assert not (ro.root / "Personal_Phonebook.xml").exists()


def test_a_backup_of_a_book_or_format_that_is_not_one_is_refused(rig, tftp):
    assert "format: one of escene, yealink" in refused(
        rig, Api(rig).backup_phonebook("personal", "csv", tftp.url("b.xml")))
    assert "book: one of personal, enterprise" in refused(
        rig, Api(rig).backup_phonebook("all", "escene", tftp.url("b.xml")))
    assert list(tftp.root.iterdir()) == []
