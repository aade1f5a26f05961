"""The personal book's store (firmware/phonebooks.py; issue 14 item 7): a kill -9 at any
moment leaves own.json old or new, never broken; a write that fails half way changes
nothing; the checks and capacity a person reads on the LCD and the web.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from firmware import files
from firmware.phonebooks import Books, BookError
from provisioning.phonebook import Contact

ROOT = Path(__file__).resolve().parent.parent

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from firmware.phonebooks import Books
    from provisioning.phonebook import Contact
    books = Books(Path(sys.argv[1]))
    n = books.count("personal")
    while True:
        books.add(Contact(f"C{n}", office=str(1000 + n)))
        n += 1
        print(n, flush=True)
""")


def test_a_kill_9_while_writing_leaves_the_old_or_the_new_book(tmp_path):
    """A writer adding contacts one by one (each an atomic write of the whole file) is
    killed with SIGKILL at 6 moments; each time the file reads whole, and holds at least
    the contacts the writer had said were saved."""
    for round_ in range(6):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True)
        try:
            said = 0
            for _ in range(5 + 7 * round_):                # bounded: lines it printed
                line = child.stdout.readline()
                assert line, "the writer died"
                said = int(line)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
            child.stdout.close()
        doc = json.loads((tmp_path / "phonebook" / "own.json").read_text())
        assert len(doc["contacts"]) >= said               # old or new (6 rounds: < 300)
        books = Books(tmp_path)                           # sweeps the killed temp file
        assert books.count("personal") == len(doc["contacts"])
        assert not list((tmp_path / "phonebook").glob(".own.json.*.tmp"))
        assert not (tmp_path / "phonebook" / "own.json.bad").exists()


def test_a_write_that_fails_half_way_changes_nothing(tmp_path, monkeypatch):
    books = Books(tmp_path)
    books.add(Contact("Ann", office="2001"))
    before = (tmp_path / "phonebook" / "own.json").read_bytes()

    def cut(*a):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(files.os, "replace", cut)
    with pytest.raises(OSError):
        books.add(Contact("Bob", office="2002"))
    monkeypatch.undo()
    assert (tmp_path / "phonebook" / "own.json").read_bytes() == before
    assert [c.first_name for c in Books(tmp_path).book("own").contacts] == ["Ann"]
    assert books.count("personal") == 1                   # memory as the disk


@pytest.mark.parametrize("contact, why", [
    (Contact(office="12345678901234567890"), "Office: 1-19 digits"),
    (Contact("Ann", mobile="12ab"), "Mobile: 1-19 digits"),
    (Contact(), "A contact needs a name or a number"),
    (Contact("A" * 33), "First name: at most 32"),
    (Contact("Ann", group="Nope"), "No group 'Nope'"),
])
def test_a_wrong_contact_is_refused_with_why(tmp_path, contact, why):
    books = Books(tmp_path)
    with pytest.raises(BookError, match=why):
        books.add(contact)
    assert not (tmp_path / "phonebook" / "own.json").exists()


def test_the_capacity_counts_provisioned_and_own(tmp_path):
    books = Books(tmp_path)
    for i in range(300):
        books.add(Contact(f"C{i}", office=str(i)))
    with pytest.raises(BookError, match="^Phone book full: 300 contacts$"):
        books.add(Contact("One more", office="1"))
    assert books.count("personal") == 300


def test_name_for_personal_before_enterprise(tmp_path):
    from provisioning.phonebook import Phonebook
    (tmp_path / "phonebook").mkdir()
    Phonebook(contacts=[Contact("Ent", office="2001")]).save(
        tmp_path / "phonebook" / "enterprise.json")
    books = Books(tmp_path)
    assert books.name_for("2001") == "Ent"
    books.add(Contact("Mine", mobile="2001"))
    assert books.name_for("2001") == "Mine" and books.name_for("9999") == ""


def test_a_provisioned_book_loads_up_to_its_capacity_and_says_the_rest_is_left_out():
    from provisioning.phonebook import parse_phonebook
    books = "".join(f'<book FirstName="C{i}" OfficeNum="{1000 + i}"/>' for i in range(801))
    xml = f"<all><PhoneBooks>{books}</PhoneBooks></all>".encode()
    book = parse_phonebook(xml, name="Enterprise_Phonebook.xml")
    assert len(book.contacts) == 800
    assert any("Phone book full: 800 contacts; the rest are ignored" in i for i in book.ignored)
    assert len(parse_phonebook(xml, name="2101_Phonebook.xml").contacts) == 300


def test_reading_the_books_loads_no_xml_parser_nor_cryptography(tmp_path):
    """Every phone reads its books (the idle search builds its index 10 s after start): from
    their JSON files, without provisioning's XML reader and the AES behind it (~8 MB of a
    Pi Zero's memory for a module only a provisioning run or an upload needs)."""
    code = ("import sys; from firmware.phonebooks import Books; "
            f"b = Books({str(tmp_path)!r}); b.listed('personal'); b.listed('enterprise'); "
            "print(' '.join(m for m in ('provisioning.escene', 'cryptography') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == ""


def test_an_edit_of_a_contact_gone_with_its_group_says_it_is_gone_first(tmp_path):
    """An upload replaced the user's book (the contact and its group went) while the LCD's
    editor was open: Save says the contact is gone, not that its group is missing."""
    from provisioning.phonebook import Phonebook
    books = Books(tmp_path)
    books.add_group("R&D")
    old = Contact("Ann", office="2001", group="R&D")
    books.add(old)
    books.import_own(Phonebook(contacts=[Contact("Bob", office="3001")]))
    with pytest.raises(BookError, match="changed or deleted meanwhile"):
        books.edit(0, Contact("Ann", office="2002", group="R&D"), was=old)
    assert [c.first_name for c in books.book("own").contacts] == ["Bob"]
