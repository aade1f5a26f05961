"""Issue 13's settings in an Escene MAC file, end to end: a real phone fetches it over TFTP,
takes the codec order, QoS, DND soft key and the web's user role, names the codec it lacks
in the run's report and applies the rest (provisioning/escene.py, docs/provisioning-files.md)."""
from __future__ import annotations

import base64

from tests.helpers import wait_for
from tests.peers.fixtures import tftpd  # noqa: F401  (fixture)
from tests.phone import PhoneProcess
from tests.test_provisioning import MAC, provisioned

MAC_FILE = b"""<?xml version="1.0" encoding="UTF-8"?>
<all>
  <SipDSPs>
    <dsp enableCode0="G711U" enableCode1="G999" enableCode2="G722" disableCode0="G711A"
         disableCode1="G729A" JITTERBUFFER="0"/>
  </SipDSPs>
  <calls><call SIPQos="24" RTPQos="40" DNDSoftkeyEnable="0" callwaiting="0"/></calls>
  <passwords>
    <password UsrName="admin" Password="Adm1n-pass" User="desk" UserPassword="Desk-pass-9"/>
  </passwords>
</all>
"""


def _basic(user: str, pw: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_a_mac_file_sets_codecs_qos_and_the_user_role_and_names_the_codec_it_lacks(
        tmp_path, tftpd):
    tftpd.put("p/00268b1a2b3c.xml", MAC_FILE)
    # the file names the administrator as the phone has them already: the test keeps asking
    settings = {"hardware.mac": MAC, "provisioning.url": tftpd.url("p"), "web.user": "admin"}
    with PhoneProcess(tmp_path / "p", settings=settings, user="admin",
                      password="Adm1n-pass") as phone:
        st = provisioned(phone)
        # one codec the phone lacks does not refuse the file: the rest is applied
        assert st["last"]["result"] == "ok", st["last"]
        assert any("enableCode1='G999': no such codec in this firmware; skipped" in line
                   for line in st["log"]), st["log"]
        got = phone.request("GET", "/api/settings")["settings"]
        assert got["sip.codecs"] == ["PCMU", "G722"]
        assert (got["sip.qos_sip"], got["sip.qos_voice"]) == (24, 40)
        assert got["phone.dnd_softkey"] is False and got["phone.call_waiting"] is False
        assert got["web.user_name"] == "desk" and got["web.user_must_change"] is False
        # the desk user signs in with the server's password at once, to the user's settings
        code, reply = phone.status("GET", "/api/settings", auth=_basic("desk", "Desk-pass-9"))
        assert code == 200, reply
        assert "forward.always" in reply["settings"]
        assert "account.1.server" not in reply["settings"]
        # stored hashed only (the file is written after the reply: wait for the new user)
        path = phone.data_dir / "settings.toml"
        wait_for(lambda: 'user_name = "desk"' in path.read_text(), "settings.toml written", 10)
        text = path.read_text()
        assert "Desk-pass-9" not in text and "Adm1n-pass" not in text
