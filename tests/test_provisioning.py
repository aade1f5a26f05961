"""Auto provisioning end to end: a real phone process, real servers, the manual's triggers."""
from __future__ import annotations

import datetime as dt
import socket

import pytest

from provisioning.schedule import next_run
from tests.peers.fixtures import ftpd, nginx, tftpd  # noqa: F401  (fixtures)
from tests.peers.ports import free_port
from tests.peers.sipp import Sipp
from tests.phone import PhoneProcess


def _check_sync(tmp_path, phone: PhoneProcess, event: str = "check-sync") -> str:
    """Send the PBX's NOTIFY; return the status line the phone answered with."""
    s = Sipp(tmp_path / "sipp", scenario="uac_notify_check_sync.xml", remote=phone.addr,
             service="1001", keys={"event": event}, timeout=10)
    s.run()
    text = s.messages()
    for code in ("200", "403", "489"):
        if f"SIP/2.0 {code} " in text:
            return code
    raise AssertionError(f"no answer to the NOTIFY:\n{text}")


def test_a_check_sync_notify_from_the_registrar_starts_provisioning(tmp_path, phones):
    phone = phones.start("1001", settings={"provisioning.on_boot": False,
                                           "provisioning.url": "tftp://127.0.0.1:9/none"})
    assert phone.request("GET", "/api/provision")["last"] is None
    assert _check_sync(tmp_path, phone) == "200"
    st = phone.wait(lambda s: (phone.request("GET", "/api/provision")["last"] or {}).get(
        "trigger") == "notify", what="a run started by the NOTIFY")
    assert st


def test_a_check_sync_notify_from_a_stranger_is_refused(tmp_path):
    # no account: the phone has no server, so nobody may make it fetch files
    with PhoneProcess(tmp_path / "p", settings={"provisioning.on_boot": False}) as phone:
        assert _check_sync(tmp_path, phone) == "403"
        assert phone.request("GET", "/api/provision")["last"] is None


def test_check_sync_can_be_switched_off(tmp_path, phones):
    phone = phones.start("1001", settings={"provisioning.on_boot": False,
                                           "provisioning.accept_notify": False})
    assert _check_sync(tmp_path, phone) == "489"
    assert phone.request("GET", "/api/provision")["last"] is None


# --- when: the manual's timing rules (appendix 3.2) ---------------------------------------

def test_the_manuals_worked_examples_of_timing():
    at_8 = dt.datetime(2027, 1, 1, 8, 0)
    # 24 h and 2:00, set at 8:00 on 1 Jan: 24 h pass, then the nearest 2:00 -> 3 Jan
    assert next_run(at_8, 24, "02:00") == dt.datetime(2027, 1, 3, 2, 0)
    # frequency 0 and 23:00 -> tonight
    assert next_run(at_8, 0, "23:00") == dt.datetime(2027, 1, 1, 23, 0)
    # no time of day: just the frequency
    assert next_run(at_8, 6, "") == dt.datetime(2027, 1, 1, 14, 0)
    assert next_run(at_8, 0, "") is None
    # after the 23:00 run, the next is tomorrow's, never the same minute again
    assert next_run(dt.datetime(2027, 1, 1, 23, 0), 0, "23:00") == dt.datetime(2027, 1, 2,
                                                                               23, 0)
    # after the 2:00 run on 3 Jan: 24 h later is exactly 2:00 on 4 Jan
    assert next_run(dt.datetime(2027, 1, 3, 2, 0), 24, "02:00") == dt.datetime(2027, 1, 4,
                                                                               2, 0)


def test_the_timer_runs_at_the_time_of_day_and_shows_the_next(tmp_path):
    # the phone's clock starts 3 s before 2:00 (DESKPHONE_CLOCK_START); frequency 0 at 2:00
    settings = {"provisioning.on_boot": False, "provisioning.periodic": True,
                "provisioning.frequency_hours": 0, "provisioning.time": "02:00",
                "provisioning.url": "tftp://127.0.0.1:9/none"}
    with PhoneProcess(tmp_path / "p", settings=settings,
                      env={"DESKPHONE_CLOCK_START": "2027-01-01T01:59:57"}) as phone:
        st = phone.request("GET", "/api/provision")
        assert st["next"] == "2027-01-01T02:00:00" and st["last"] is None
        phone.wait(lambda s: (phone.request("GET", "/api/provision")["last"] or {}).get(
            "trigger") == "timer", timeout=15, what="the 2:00 run")
        st = phone.request("GET", "/api/provision")
        assert st["last"]["started"].startswith("2027-01-01T02:00")
        assert st["next"] == "2027-01-02T02:00:00"


# --- backup and restore (web: Configuration backup) ----------------------------------------

def _settings(phone: PhoneProcess) -> dict:
    return phone.request("GET", "/api/settings")["settings"]


def test_a_backup_restores_onto_another_phone(tmp_path):
    mine = {"phone.dial_timeout": 7, "phone.blacklist": ["1900*"], "lcd.contrast": 3,
            "forward.always": "1009", "provisioning.url": "http://10.0.0.5/prov"}
    account = {"user": "1001", "display_name": "Alice", "password": "s3cret",
               "server": "127.0.0.1:9"}
    with PhoneProcess(tmp_path / "a", account=account, settings=mine) as a, \
            PhoneProcess(tmp_path / "b") as b:
        for fmt in ("xml", "toml"):
            data = a.request("GET", f"/api/backup?format={fmt}&secrets=1", raw=True)
            code, body = b.status("POST", f"/api/restore?name=backup.{fmt}", data=data)
            assert code == 200, body
            got, want = _settings(b), _settings(a)
            for key in list(mine) + ["account.1.user", "account.1.display_name",
                                     "account.1.server", "account.1.password"]:
                assert got[key] == want[key], (fmt, key)


def test_a_bad_backup_changes_nothing(tmp_path):
    with PhoneProcess(tmp_path / "p", settings={"phone.dial_timeout": 7}) as phone:
        before = _settings(phone)
        laughs = (b'<?xml version="1.0"?><!DOCTYPE all [<!ENTITY a "aaaaaaaaaa">'
                  b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><all>&b;</all>')
        for name, data in (("cut.xml", b'<all><sipUsers><sipUser id="0" UserNumber="1'),
                           ("laughs.xml", laughs),
                           ("bad.xml", b'<all><sipUsers><sipUser id="0" RefreshTime="soon"/>'
                                       b'</sipUsers></all>'),
                           ("bad.toml", b"[phone]\ndial_timeout = 'x'\n")):
            code, body = phone.status("POST", f"/api/restore?name={name}", data=data)
            assert code == 400 and "nothing changed" in body["error"], (name, body)
        assert _settings(phone) == before


# --- the file set from real servers --------------------------------------------------------

MAC = "00:26:8b:1a:2b:3c"


def mac_file(user: str, server: str, name: str = "Alice", password: str = "") -> bytes:
    """<MAC>.xml the way FusionPBX's Escene templates lay it out (our own values)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<all>
  <sipUsers>
    <sipUser id="0" EnableAccount="1" Describe="Desk" DomainName="{server.split(':')[0]}"
             UserName="{name}" UserNumber="{user}" approveName="{user}" Password="{password}"
             ProxyServerAddress="{server}" LinkUse="0" RefreshTime="300" RPortEnable="1"/>
    <sipUser id="1" EnableAccount="0"/>
  </sipUsers>
  <NATs><nat PCPortMode="0"/></NATs>
  <calls><call callwaiting="1" UnconditionalNum="" Unconditional="0"/></calls>
</all>
""".encode()


SYS_FILE = b"""<?xml version="1.0" encoding="UTF-8"?>
<all>
  <lcds><lcd Contrast="4" TimeFormat="0"/></lcds>
  <SomethingNew><thing id="0" Knob="11"/></SomethingNew>
</all>
"""

EXTERN = b"""<?xml version="1.0" encoding="UTF-8"?>
<all><hotlines>
  <hotline id="0" ID="0" Type="1" HotlineNum="1002" Name="Bob" SipAccounts="0"/>
  <hotline id="1" ID="1" Type="5" HotlineNum="1003" Name="Carol" SipAccounts="127"/>
</hotlines></all>
"""

BOOK = """<?xml version="1.0" encoding="UTF-8"?>
<all>
  <PhoneGroups><group id="0" groupid="1" name="Staff"/></PhoneGroups>
  <PhoneBooks>
    <book id="0" Bookid="1" FirstName="{first}" LastName="Smith" OfficeNum="{num}"
          GroupName="Staff" accountid="127"/>
  </PhoneBooks>
</all>
"""


def provisioned(phone: PhoneProcess, timeout: float = 20.0) -> dict:
    """Wait for the running (or first) provisioning run to end; its status."""
    def done(_s):
        st = phone.request("GET", "/api/provision")
        return st if st["last"] and not st["running"] else None
    phone.wait(done, timeout=timeout, what="provisioning to finish")
    return phone.request("GET", "/api/provision")


def files(st: dict) -> dict[str, str]:
    return {f["name"]: f["status"] for f in st["last"]["files"]}


def test_the_whole_file_set_over_http_with_a_password(tmp_path, kamailio, nginx):
    for name, data in ((f"{MAC.replace(':', '')}.xml", mac_file("1001", kamailio.addr,
                                                                 password="secret1001")),
                       ("sys_DP330.xml", SYS_FILE), ("1001_Extern.xml", EXTERN),
                       ("Enterprise_Phonebook.xml", BOOK.format(first="Erin", num="2000").encode()),
                       ("1001_Phonebook.xml", BOOK.format(first="Pat", num="2001").encode())):
        nginx.put(f"prov/{name}", data)
    settings = {"hardware.mac": MAC, "provisioning.url": nginx.url("private/prov"),
                "provisioning.username": nginx.user, "provisioning.password": nginx.password}
    with PhoneProcess(tmp_path / "p", settings=settings) as phone:
        st = provisioned(phone)
        assert st["last"]["result"] == "ok", st["last"]
        assert files(st) == {"F0DP330.cfg": "not on server", "sys_DP330.xml": "applied",
                             "00268b1a2b3c.xml": "applied", "1001_Extern.xml": "applied",
                             "Enterprise_Phonebook.xml": "applied",
                             "1001_Phonebook.xml": "applied"}
        # what a person sees: the line registers with the account from the server
        s = phone.wait_registered(1)
        assert s["accounts"][0]["user"] == "1001" and s["accounts"][0]["label"] == "Desk"
        got = _settings(phone)
        assert got["lcd.contrast"] == 4 and got["account.1.expires"] == 300
        books = phone.request("GET", "/api/phonebook")
        assert [e["first_name"] for e in books["enterprise"]] == ["Erin"]
        assert [e["first_name"] for e in books["personal"]] == ["Pat"]
        assert [k["number"] for k in phone.request("GET", "/api/keys/layout")["memory"]] == \
            ["1002", "1003"]
        # and the keys work at once: p1 is Bob's BLF lamp (no dialog events on this server:
        # "unknown", never idle), p2 a speed dial without a lamp
        keys = phone.request("GET", "/api/keys/state")["keys"]
        assert keys["p1"]["type"] == "blf" and keys["p2"]["type"] == "speed_dial"
        assert phone.leds()["p1"] == {"colour": "amber", "pattern": "slow"}
        # the server saw who asked: vendor, model, version and MAC in the User-Agent
        line = nginx.wait_request("00268b1a2b3c.xml")
        assert f"deskphone DP330 " in line and MAC in line
        # the unknown section was logged, not fatal
        assert any("SomethingNew" in x for x in st["log"]) or "SomethingNew" in \
            phone.log_tail(200)


def _mac_xml(display: str) -> bytes:
    return (f'<all><sipUsers><sipUser id="0" UserName="{display}"/></sipUsers></all>'
            ).encode()


@pytest.mark.parametrize("how", ["tftp", "http", "http+password", "https", "ftp",
                                 "ftp+password", "TFTP-upper-case"])
def test_each_protocol_brings_the_mac_file(tmp_path, tftpd, nginx, ftpd, how):
    settings = {"hardware.mac": MAC}
    name = "00268b1a2b3c.xml"
    if how == "tftp":
        server, url = tftpd, tftpd.url("p")
    elif how == "TFTP-upper-case":      # scheme in any case; MAC named upper case
        server, url = tftpd, tftpd.url("p", scheme="TFTP")
        name = name.upper().replace(".XML", ".xml")
        settings["provisioning.filename_case"] = "upper"
    elif how == "http":
        server, url = nginx, nginx.url("p")
    elif how == "http+password":
        server, url = nginx, nginx.url("private/p")
        settings.update({"provisioning.username": nginx.user,
                         "provisioning.password": nginx.password})
    elif how == "https":
        server, url = nginx, nginx.url("p", https=True)
        settings["provisioning.ca_file"] = str(nginx.cert)
    elif how == "ftp":
        server, url = ftpd, ftpd.url("p")
    else:
        server, url = ftpd, ftpd.url("p")
        settings.update({"provisioning.username": ftpd.user,
                         "provisioning.password": ftpd.password})
    server.put(f"p/{name}", _mac_xml(f"Via {how}"))
    settings["provisioning.url"] = url
    with PhoneProcess(tmp_path / "p", settings=settings) as phone:
        st = provisioned(phone)
        assert st["last"]["result"] == "ok", st["last"]
        assert files(st)[name] == "applied"
        assert _settings(phone)["account.1.display_name"] == f"Via {how}"


def test_provision_now_from_the_api_and_from_the_lcd_menu(tmp_path, tftpd):
    settings = {"hardware.mac": MAC, "provisioning.on_boot": False,
                "provisioning.url": tftpd.url("p")}
    with PhoneProcess(tmp_path / "p", settings=settings) as phone:
        assert phone.request("GET", "/api/provision")["last"] is None
        tftpd.put("p/00268b1a2b3c.xml", _mac_xml("First"))
        phone.request("POST", "/api/provision")
        assert provisioned(phone)["last"]["trigger"] == "now"
        assert _settings(phone)["account.1.display_name"] == "First"
        # MENU > 7 Auto provision shows the last result; OK runs it again
        tftpd.put("p/00268b1a2b3c.xml", _mac_xml("Second"))
        phone.key("menu")
        phone.key("7")
        text = phone.wait_screen("Auto provision")
        assert "OK: applied 00268b1a2b3c.xml" in text.replace("\n", " ") or "OK" in text
        phone.key("ok")
        phone.wait(lambda s: _settings(phone)["account.1.display_name"] == "Second",
                   what="the run started from the LCD")
        assert phone.request("GET", "/api/provision")["last"]["trigger"] == "now"


def test_nothing_is_applied_during_a_call_it_waits_until_hang_up(tmp_path, p2p_phones, tftpd):
    """Manual appendix 3.2 and the issue: never apply or reboot in a call."""
    from tests.helpers import idle, talking
    a = p2p_phones.start("1001", server=False, settings={
        "hardware.mac": MAC, "provisioning.on_boot": False,
        "provisioning.url": tftpd.url("p")})
    b = p2p_phones.start("1002", server=False)
    tftpd.put("p/00268b1a2b3c.xml", _mac_xml("During call"))
    before = _settings(a)["account.1.display_name"]
    b.dial(a.uri("1001"))
    a.wait(lambda s: s["screen"] == "ringing")
    a.key("line1")
    a.wait(talking)
    a.request("POST", "/api/provision")
    # fetched and checked, then it waits (the API says so), nothing changed
    a.wait(lambda s: a.request("GET", "/api/provision")["progress"] == "Waiting: call",
           what="the run to wait for the call to end")
    assert _settings(a)["account.1.display_name"] == before
    assert a.call_state() == "connected"
    assert "Talking" in a.screen()                     # the call screen stays as it was
    a.key("speaker")                                   # hang up hands-free
    a.wait(idle, what="the call to end")
    st = provisioned(a)
    assert st["last"]["result"] == "ok", st["last"]
    assert _settings(a)["account.1.display_name"] == "During call"


def test_a_phone_not_set_up_for_provisioning_skips_it_at_boot_and_says_why_when_asked(
        tmp_path):
    with PhoneProcess(tmp_path / "p", settings={"provisioning.on_boot": True}) as phone:
        st = provisioned(phone)
        assert st["last"]["result"] == "skipped" and st["last"]["trigger"] == "boot"
        assert "provisioning: failed" not in phone.log_tail(100)      # no alarm at boot
        phone.request("POST", "/api/provision")
        phone.wait(lambda s: phone.request("GET", "/api/provision")["last"]["trigger"] == "now",
                   what="the run asked for")
        st = provisioned(phone)
        assert st["last"]["result"] == "failed"
        assert "set provisioning.url" in st["last"]["summary"]


def test_encrypted_files_need_the_right_key(tmp_path, tftpd):
    from provisioning.crypto import encrypt
    tftpd.put("p/00268b1a2b3c.xml", encrypt(_mac_xml("Secret"), "right key"))
    base = {"hardware.mac": MAC, "provisioning.url": tftpd.url("p")}
    with PhoneProcess(tmp_path / "wrong", settings={**base,
                                                    "provisioning.aes_key": "wrong"}) as ph:
        st = provisioned(ph)
        assert st["last"]["result"] == "failed" and "AES key" in st["last"]["summary"]
        assert _settings(ph)["account.1.display_name"] == ""
    with PhoneProcess(tmp_path / "none", settings=base) as ph:
        st = provisioned(ph)
        assert st["last"]["result"] == "failed"
        assert "provisioning.aes_key" in st["last"]["summary"]
    with PhoneProcess(tmp_path / "right", settings={**base,
                                                    "provisioning.aes_key": "right key"}) as ph:
        st = provisioned(ph)
        assert st["last"]["result"] == "ok", st["last"]
        assert _settings(ph)["account.1.display_name"] == "Secret"
    # with a key set, a plain file planted on the server is refused
    tftpd.put("p/00268b1a2b3c.xml", _mac_xml("Planted"))
    with PhoneProcess(tmp_path / "plain", settings={**base,
                                                    "provisioning.aes_key": "right key"}) as ph:
        st = provisioned(ph)
        assert st["last"]["result"] == "failed"
        assert _settings(ph)["account.1.display_name"] == ""


LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE all [<!ENTITY a "aaaaaaaaaa">'
          b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;">]>'
          b'<all><sipUsers><sipUser id="0" UserName="&c;"/></sipUsers></all>')
XXE = (b'<?xml version="1.0"?><!DOCTYPE all [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<all><sipUsers><sipUser id="0" UserName="&x;"/></sipUsers></all>')


@pytest.mark.parametrize("case", ["malformed", "entity expansion", "external entity",
                                  "2 GB", "404", "401", "server gone", "silent server"])
def test_bad_input_from_the_server_changes_nothing(tmp_path, nginx, case, request):
    """Each failure is named in the status; the good file beside it is not applied either
    (all or nothing); the phone keeps working."""
    url = nginx.url("p")
    settings = {"hardware.mac": MAC, "provisioning.username": nginx.user,
                "provisioning.password": nginx.password, "lcd.contrast": 7}
    nginx.put("p/sys_DP330.xml", b'<all><lcds><lcd Contrast="2"/></lcds></all>')
    bad = "00268b1a2b3c.xml"
    expect = {"malformed": "line", "entity expansion": "entit", "external entity": "entit",
              "2 GB": "allowed", "404": "no provisioning files", "401": "password",
              "server gone": "127.0.0.1", "silent server": "no answer"}[case]
    if case == "malformed":
        nginx.put(f"p/{bad}", b'<all><sipUsers><sipUser id="0" UserName="x"></all>')
    elif case == "entity expansion":
        nginx.put(f"p/{bad}", LAUGHS)
    elif case == "external entity":
        nginx.put(f"p/{bad}", XXE)
    elif case == "2 GB":
        nginx.put_sparse(f"p/{bad}", 2 * 1024 ** 3)
    elif case == "404":
        url = nginx.url("nothing-here")
    elif case == "401":
        url = nginx.url("private/p")
        settings["provisioning.password"] = "not the password"
    elif case == "server gone":
        url = f"http://127.0.0.1:{free_port('tcp')}/p"
    else:       # accepts the connection, never says a word
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        request.addfinalizer(silent.close)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/p"
        settings["provisioning.timeout"] = 2
    settings["provisioning.url"] = url
    with PhoneProcess(tmp_path / "p", settings=settings) as phone:
        st = provisioned(phone, timeout=60)
        last = st["last"]
        assert last["result"] in ("failed", "nothing"), last
        assert expect.lower() in last["summary"].lower(), last
        assert _settings(phone)["lcd.contrast"] == 7
        # the phone still works: keys, screen, a dial tone
        phone.hook(True)
        assert phone.wait(lambda s: s["tone"] == "dial")["screen"] == "dialing"
