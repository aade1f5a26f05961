"""Phone book files in and out (issue 14 item 3; firmware/directory/formats.py over the real
Books in a temp data dir): Escene's XML and Yealink's two remote phone book shapes read,
imported and written back with the same contacts; capacities; a bad file names its line
and the problem and changes nothing; entity bombs and empty files refused.
"""
from __future__ import annotations

import json

import pytest

from firmware.directory import formats
from firmware.directory.formats import FileRefused, export_file, import_file, read
from firmware.phonebooks import Books, BookError
from provisioning.phonebook import Contact, Group, Phonebook, export_phonebook

ESCENE = """<?xml version="1.0" encoding="UTF-8"?>
<all>
  <PhoneGroups>
    <group id="0" groupid="0" name="Family" Descriptor="at home" RingType="" />
    <group id="1" groupid="1" name="Работа" Descriptor="" RingType="" />
  </PhoneGroups>
  <PhoneBooks>
    <book id="0" Bookid="0" FirstName="Ánh" LastName="Nguyễn" MobileNum="0912345678"
          OfficeNum="1001" OtherNum="" GroupName="Family" accountid="127" ISUseBLF="0" />
    <book id="1" Bookid="1" FirstName="Иван" LastName="Петров" MobileNum=""
          OfficeNum="+74951234567" OtherNum="*97" GroupName="Работа" accountid="1"
          ISUseBLF="1" />
    <book id="2" Bookid="2" FirstName="王" LastName="小明" MobileNum="" OfficeNum="1003"
          OtherNum="#21" GroupName="" accountid="127" ISUseBLF="0" />
  </PhoneBooks>
</all>
"""

# Wazo's dird yealink view and FusionPBX's directory.xml: one Telephone per number
DIRECTORY = """<?xml version="1.0" encoding="ISO-8859-1"?>
<YealinkIPPhoneDirectory clearlight="true">
  <Title>PBX Directory</Title>
  <DirectoryEntry>
    <Name>Erika Mustermann</Name>
    <Telephone>+49 831 1234567</Telephone>
    <Telephone>+49 175 5867488</Telephone>
  </DirectoryEntry>
  <DirectoryEntry>
    <Name>Reception</Name>
    <Telephone>100</Telephone>
  </DirectoryEntry>
</YealinkIPPhoneDirectory>
""".encode("iso-8859-1")

# FreePBX / hand-made remote books: a Menu per group, Phone1-3 = office, mobile, other
PHONEBOOK = """<?xml version="1.0" encoding="UTF-8"?>
<YealinkIPPhoneBook>
  <Title>Yealink</Title>
  <Menu Name="Sales">
    <Unit Name="Jo Kim" Phone1="2001" Phone2="01711234567" Phone3="" default_photo="Resource:"/>
    <Unit Name="Zoë van Dijk" Phone1="2002" Phone2="" Phone3="2099" default_photo="Resource:"/>
  </Menu>
  <Menu Name="All Contacts">
    <Unit Name="Lobby" Phone1="2000" Phone2="" Phone3="" default_photo="Resource:"/>
  </Menu>
</YealinkIPPhoneBook>
"""


def own(tmp_path) -> dict:
    return json.loads((tmp_path / "phonebook" / "own.json").read_text())


def same(book: Phonebook) -> list[tuple]:
    """What a person sees of each contact: name, the three numbers, group, line."""
    return [(c.name, c.office, c.mobile, c.other, c.group, c.account) for c in book.contacts]


def test_an_escene_file_imported_and_exported_gives_the_same_contacts(tmp_path):
    books = Books(tmp_path)
    out = import_file(books, "personal", ESCENE.encode(), name="1001_Phonebook.xml")
    assert out == {"book": "personal", "format": "escene", "contacts": 3, "groups": 2,
                   "notes": []}
    assert books.count("personal") == 3 and books.own_groups() == ["Family", "Работа"]
    data, name = export_file(books, "personal", "escene")
    assert name == "Personal_Phonebook.xml"
    again = read(data, name=name).book
    assert again.contacts == read(ESCENE.encode(), name="x").book.contacts
    assert [(g.name, g.description) for g in again.groups] == [("Family", "at home"),
                                                              ("Работа", "")]
    assert again.contacts[1].account == 2 and again.contacts[1].blf


def test_a_yealink_directory_file_round_trips_through_the_phone(tmp_path):
    books = Books(tmp_path)
    out = import_file(books, "personal", DIRECTORY, name="directory.xml")
    assert out["format"] == "yealink" and out["contacts"] == 2
    first = books.book("own").contacts[0]
    assert (first.first_name, first.last_name) == ("Erika", "Mustermann")
    assert (first.office, first.mobile) == ("+498311234567", "+491755867488")
    data, name = export_file(books, "personal", "yealink")
    assert name == "Personal_Phonebook_yealink.xml"
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<YealinkIPPhoneBook>')
    assert same(read(data, name=name).book) == same(books.book("own"))


def test_a_yealink_phonebook_with_menus_keeps_its_groups_both_ways(tmp_path):
    books = Books(tmp_path)
    import_file(books, "personal", PHONEBOOK.encode(), name="yealink.xml")
    assert books.own_groups() == ["Sales"]                 # "All Contacts": no group
    zoe = next(c for c in books.book("own").contacts if c.last_name == "Dijk")
    assert (zoe.first_name, zoe.office, zoe.other, zoe.group) == ("Zoë van", "2002", "2099",
                                                                  "Sales")
    data, _ = export_file(books, "personal", "yealink")
    text = data.decode()
    assert '<Menu Name="Sales">' in text and '<Menu Name="All Contacts">' in text
    assert '<Unit Name="Zoë van Dijk" Phone1="2002" Phone2="" Phone3="2099"' in text
    back = Books(tmp_path / "other")
    import_file(back, "personal", data, name="again.xml")
    assert same(back.book("own")) == same(books.book("own"))
    assert back.own_groups() == ["Sales"]


def test_an_import_replaces_the_users_own_contacts_and_leaves_provisioned_ones(tmp_path):
    books = Books(tmp_path)
    books.add(Contact("Old", office="999"))
    prov = Phonebook(groups=[Group("Staff")], contacts=[Contact("Boss", office="1000",
                                                                group="Staff")])
    prov.save(tmp_path / "phonebook" / "personal.json")
    import_file(books, "personal", PHONEBOOK.encode(), name="y.xml")
    assert [c.name for c in books.book("own").contacts] == ["Jo Kim", "Zoë van Dijk", "Lobby"]
    assert books.count("personal") == 4                    # Boss stays, Old is replaced
    # the download holds the provisioned contact too; uploading it copies it no twice
    data, _ = export_file(books, "personal", "escene")
    out = import_file(books, "personal", data, name="Personal_Phonebook.xml")
    assert out["contacts"] == 3 and "1 contact is a provisioned one already" in out["notes"][0]
    assert books.count("personal") == 4
    assert books.own_groups() == ["Sales"]                 # Staff is provisioning's


def escene_with(n: int) -> bytes:
    return export_phonebook(Phonebook(contacts=[Contact(f"C{i:03}", office=str(1000 + i))
                                                for i in range(n)]))


def test_300_personal_and_800_enterprise_contacts_fit(tmp_path):
    books = Books(tmp_path)
    assert import_file(books, "personal", escene_with(300), name="p.xml")["contacts"] == 300
    assert import_file(books, "enterprise", escene_with(800), name="e.xml")["contacts"] == 800
    assert (books.count("personal"), books.count("enterprise")) == (300, 800)
    assert read(export_file(books, "enterprise", "yealink")[0], name="e").book.contacts[799] \
        == Contact("C799", office="1799")


def test_over_capacity_is_refused_with_the_count_and_nothing_changes(tmp_path):
    books = Books(tmp_path)
    import_file(books, "personal", ESCENE.encode(), name="mine.xml")
    import_file(books, "enterprise", DIRECTORY, name="ent.xml")
    before = (own(tmp_path), (tmp_path / "phonebook" / "enterprise.json").read_bytes())
    with pytest.raises(BookError, match="^Phone book full: 300 contacts — the file has 350$"):
        import_file(books, "personal", escene_with(350), name="big.xml")
    with pytest.raises(BookError, match="^Phone book full: 800 contacts — the file has 801$"):
        import_file(books, "enterprise", escene_with(801), name="big.xml")
    assert before == (own(tmp_path), (tmp_path / "phonebook" / "enterprise.json").read_bytes())
    Phonebook(contacts=[Contact(f"P{i}", office=str(i)) for i in range(1, 11)]).save(
        tmp_path / "phonebook" / "personal.json")
    with pytest.raises(BookError, match="the file has 295 and 10 are provisioned$"):
        import_file(books, "personal", escene_with(295), name="big.xml")


def refused(tmp_path, data: bytes, which: str = "personal") -> str:
    """The problems of a refused file, after checking nothing was written."""
    books = Books(tmp_path)
    books.add(Contact("Keep", office="1"))
    before = sorted(p.name for p in (tmp_path / "phonebook").iterdir()), own(tmp_path)
    with pytest.raises(FileRefused) as e:
        import_file(books, which, data, name="bad.xml")
    assert (sorted(p.name for p in (tmp_path / "phonebook").iterdir()), own(tmp_path)) \
        == before
    return str(e.value)


def test_a_number_with_letters_names_its_line_and_field(tmp_path):
    bad = ESCENE.replace('MobileNum="0912345678"', 'MobileNum="abc"')
    assert refused(tmp_path, bad.encode()) == "line 8: <book> Mobile: 1-19 digits (0-9 * #, a leading +) — 'abc'"
    unit = PHONEBOOK.replace('Phone2="01711234567"', 'Phone2="01 711 call me"')
    assert refused(tmp_path / "y", unit.encode(), "enterprise") == \
        "line 5: <Unit> Mobile: '01 711 call me' is not a number or SIP user"


def test_malformed_xml_names_the_line(tmp_path):
    broken = ESCENE.replace("</PhoneGroups>", "</PhoneGroup>")
    assert refused(tmp_path, broken.encode()).startswith(
        "bad.xml is not well-formed XML: mismatched tag at line 6, column ")


def test_an_entity_bomb_an_empty_file_and_another_xml_are_refused(tmp_path):
    bomb = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
            + b"".join(b' <!ENTITY lol%d "%s">\n' % (i, b"&lol%d;" % (i - 1) * 10 if i > 1
                                                      else b"&lol;" * 10)
                       for i in range(1, 10))
            + b"]>\n<all><PhoneBooks><book FirstName=\"&lol9;\"/></PhoneBooks></all>\n")
    assert "entity declaration; refused" in refused(tmp_path, bomb)
    assert refused(tmp_path / "e", b"") == "bad.xml is empty"
    assert refused(tmp_path / "s", b"  \n") == "bad.xml is empty"
    assert refused(tmp_path / "o", b"<config><x/></config>") == (
        "bad.xml: the root element is <config>, expected <all> or "
        "<YealinkIPPhoneDirectory> or <YealinkIPPhoneBook>")


def test_a_file_too_big_is_refused_before_it_is_parsed(tmp_path):
    big = b"<all>" + b" " * formats.MAX_BYTES + b"</all>"
    assert "the limit is 2048 KiB" in refused(tmp_path, big)


def test_the_enterprise_upload_writes_what_provisioning_writes(tmp_path):
    """The same bytes as auto provisioning's Enterprise_Phonebook.xml (its _stage): its next
    run sees the server's book as "unchanged" when it is the one uploaded."""
    from firmware.files import json_bytes
    from provisioning.phonebook import parse_phonebook
    books = Books(tmp_path)
    import_file(books, "enterprise", ESCENE.encode(), name="Enterprise_Phonebook.xml")
    provisioned = parse_phonebook(ESCENE.encode(), name="Enterprise_Phonebook.xml")
    assert (tmp_path / "phonebook" / "enterprise.json").read_bytes() == \
        json_bytes(provisioned.to_json())
    assert [x.contact.name for x in books.listed("enterprise")] == ["Ánh Nguyễn", "Иван Петров",
                                                                    "王 小明"]


def test_a_group_name_too_long_is_named_and_nothing_changes(tmp_path):
    books = Books(tmp_path)
    books.add(Contact("Keep", office="1"))
    long = "Customers of the northern region 2026"
    with pytest.raises(BookError, match=f"^Group '{long[:32]}': Group name: one line, at most "
                                        f"32 characters$"):
        import_file(books, "personal", PHONEBOOK.replace("Sales", long).encode(), name="y")
    assert [c["first_name"] for c in own(tmp_path)["contacts"]] == ["Keep"]


def test_a_yealink_directory_with_a_default_namespace_is_read(tmp_path):
    """One FreePBX directory generator puts the Atom namespace on the root element."""
    atom = DIRECTORY.replace(b'<YealinkIPPhoneDirectory clearlight="true">',
                             b'<YealinkIPPhoneDirectory xmlns="http://www.w3.org/2005/Atom">')
    assert import_file(Books(tmp_path), "enterprise", atom, name="d.xml")["contacts"] == 2


def test_menus_deeper_than_one_level_are_left_out_not_followed(tmp_path):
    """A Menu is a group of the book; 5000 nested ones (a hostile file) are not walked."""
    deep = (b"<YealinkIPPhoneBook>" + b'<Menu Name="m">' * 5000 + b'<Unit Name="X" Phone1="1"/>'
            + b"</Menu>" * 5000 + b"</YealinkIPPhoneBook>")
    got = read(deep, name="deep.xml")
    assert got.book.contacts == [] and [g.name for g in got.book.groups] == ["m"]
    assert got.notes == ["line 1: <Menu> not a phone book element here; ignored"]
