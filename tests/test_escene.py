"""Escene XML files: a PBX's MAC file becomes our settings, hostile XML is refused, our
export reads back to exactly the same settings, keys and phone books are understood."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from firmware.settings import (FIELDS, Settings, apply, hash_password,
                               to_document, verify_password)
from provisioning.errors import BadFile, DecryptError
from provisioning.escene import (export_config, export_extern, import_backup, parse_config,
                                 parse_extern, render_config)
from provisioning.keys import KeyLayout, MemoryKey, ProgramKey
from provisioning.phonebook import Phonebook, export_phonebook, parse_phonebook

DATA = Path(__file__).parent / "data" / "provisioning"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def config(xml: str):
    return parse_config(xml.encode(), name="test.xml")


# --- a PBX's MAC file --------------------------------------------------------------------

@pytest.fixture(scope="module")
def mac_file():
    return parse_config(sample("00268b1a2b3c.xml"), name="00268b1a2b3c.xml")


def test_the_lines_of_a_pbx_file_become_our_accounts(mac_file):
    v = mac_file.values
    assert mac_file.problems == []
    assert v["account.1.enable"] is True
    assert v["account.1.label"] == "Front desk"
    assert v["account.1.display_name"] == "Front Desk"          # UserName: FusionPBX's meaning
    assert v["account.1.user"] == "2101"
    assert v["account.1.auth_user"] == "2101"
    assert v["account.1.password"] == "line1-pw"
    assert v["account.1.expires"] == 600
    assert v["account.1.anonymous_reject"] is True
    assert v["account.2.anonymous"] is True
    assert v["account.2.auth_user"] == "auth2199"
    assert v["account.3.enable"] is False


def test_a_proxy_address_on_the_registrar_host_is_the_registrar_with_its_port(mac_file):
    assert mac_file.values["account.1.server"] == "pbx.example.net:5080"
    assert mac_file.values["account.1.outbound_proxy"] == ""


def test_a_proxy_address_on_another_host_is_an_outbound_proxy(mac_file):
    v = mac_file.values
    assert v["account.2.server"] == "sales.example.net"
    assert v["account.2.outbound_proxy"] == "sbc.example.net:5060"
    assert v["account.2.secondary_server"] == "backup.example.net:5062"


def test_provisioning_call_and_display_fields_are_mapped(mac_file):
    v = mac_file.values
    assert v["provisioning.url"] == "pbx.example.net/app/provision"
    assert v["provisioning.protocol"] == "https"
    assert v["provisioning.username"] == "phones"
    assert v["provisioning.password"] == "pr0v-pass"
    assert v["provisioning.dhcp_option66"] is False
    assert v["provisioning.frequency_hours"] == 24
    assert v["provisioning.time"] == "03:00"
    assert v["provisioning.firmware"] is False
    assert v["provisioning.enterprise_phonebook"] is True
    assert v["provisioning.personal_phonebook"] is False
    assert v["provisioning.filename_case"] == "lower"
    assert v["phone.call_waiting"] is False
    assert v["phone.auto_answer"] is True
    assert v["forward.always"] == ""
    assert v["forward.busy"] == "8000"
    assert v["forward.no_answer"] == "8001"
    assert v["phone.reject_code"] == 603 and v["phone.dnd_code"] == 480
    assert v["phone.conference_exit"] == "transfer"
    assert v["hardware.flash_hook_ms"] == 600
    assert v["lcd.contrast"] == 6 and v["lcd.backlight"] == 7
    assert v["lcd.backlight_timeout"] == 30
    assert v["phone.time_format"] == 12
    assert v["phone.date_format"] == "%Y-%m-%d"
    assert v["phone.dtmf_mode"] == "info" and v["phone.dtmf_payload"] == 96
    assert v["phone.dial_timeout"] == 4
    assert v["sip.rtp_port"] == 10000 and v["sip.rtp_ports"] == 128
    assert v["sip.retry_interval"] == 30


def test_every_value_passes_the_settings_checks(mac_file):
    settings, problems = apply(Settings(), mac_file.values)
    assert problems == []
    assert settings.account[2].server == "sales.example.net"


def test_the_web_password_is_stored_hashed(mac_file):
    v = mac_file.values
    assert v["web.user"] == "admin"
    assert "Adm1n-pass" not in v["web.password_hash"]
    assert verify_password("Adm1n-pass", v["web.password_hash"])


def test_the_codec_order_becomes_sip_codecs(mac_file):
    # enableCode0..2 = G722, G711A, G711U: the manual's names; disableCodeN is the rest
    assert mac_file.values["sip.codecs"] == ("G722", "PCMA", "PCMU")


def test_a_codec_this_phone_lacks_is_named_and_skipped_the_rest_applies():
    r = config('<all><SipDSPs><dsp enableCode0="G711U" enableCode1="AMR-X" enableCode2="g722"'
               ' enableCode3="speex/16000" enableCode4="G729" disableCode0="G723"/></SipDSPs>'
               '<calls><call callwaiting="0"/></calls></all>')
    assert r.problems == []
    assert r.values == {"sip.codecs": ("PCMU", "G722", "speex/16000", "G729"),
                        "phone.call_waiting": False}
    assert r.ignored == ["SipDSPs/dsp (line 1): enableCode1='AMR-X': no such codec in this "
                         "firmware; skipped (the manual's G722, G711A, G711U, G729A, G723, or "
                         "a sip.codecs name)"]
    assert r.skipped == r.ignored              # the run's report names it (engine.py)


def test_a_codec_list_with_no_known_codec_leaves_sip_codecs_alone():
    r = config('<all><SipDSPs><dsp enableCode0="X1" enableCode1=""/></SipDSPs></all>')
    assert r.problems == [] and r.values == {}
    assert any("sip.codecs left unchanged" in i for i in r.ignored)


def test_qos_and_the_dnd_soft_key_come_from_calls(mac_file):
    assert mac_file.values["sip.qos_sip"] == 26 and mac_file.values["sip.qos_voice"] == 46
    r = config('<all><calls><call SIPQos="10" RTPQos="34" DNDSoftkeyEnable="0"/></calls></all>')
    assert r.values == {"sip.qos_sip": 10, "sip.qos_voice": 34, "phone.dnd_softkey": False}
    r = config('<all><calls><call SIPQos="64"/></calls></all>')      # DSCP is 0-63
    assert r.problems and "SIPQos" in r.problems[0]


def test_the_user_role_comes_from_user_and_userpassword():
    r = config('<all><passwords><password UsrName="admin" Password="Adm1n-pass" User="desk"'
               ' UserPassword="Desk-pass-9"/></passwords></all>')
    assert r.problems == [] and r.ignored == []
    v = r.values
    assert v["web.user_name"] == "desk"
    assert "Desk-pass-9" not in v["web.user_password_hash"]
    assert verify_password("Desk-pass-9", v["web.user_password_hash"])
    assert v["web.user_must_change"] is False       # the server's, like the admin's password
    settings, problems = apply(Settings(), v)
    assert problems == [] and settings.web.user_name == "desk"


def test_a_weak_web_password_is_not_applied_and_said_so(mac_file):
    # the sample carries Escene's factory user/user: the user role stays off
    assert "web.user_password_hash" not in mac_file.values
    assert mac_file.values["web.user_name"] == "user"
    assert any("UserPassword: not applied, the user role's web password is left unchanged"
               in i for i in mac_file.ignored)
    r = config('<all><passwords><password UsrName="root" Password="root"/></passwords></all>')
    assert r.problems == [] and "web.password_hash" not in r.values
    assert r.ignored == ["passwords/password (line 1): Password: not applied, the "
                         "administrator's web password is left unchanged: it must have at "
                         "least 8 characters"]
    assert r.skipped == r.ignored


def test_a_user_named_as_the_administrator_is_left_alone():
    r = config('<all><passwords><password UsrName="admin" User="admin"'
               ' UserPassword="Desk-pass-9"/></passwords></all>')
    assert r.problems == [] and r.values == {"web.user": "admin"}
    assert "is the administrator's login name" in r.ignored[0]


def test_unknown_and_unused_sections_are_listed_not_fatal(mac_file):
    ignored = "\n".join(mac_file.ignored)
    assert "Wallpapers (line 44): unknown section; ignored" in ignored
    assert "SysTimes (line 26): not used" in ignored
    assert "SipDSPs" in ignored and "Cwmps" in ignored
    assert "LinkUse" in ignored and "LLDP" in ignored        # attributes we have no use for
    assert "JITTERBUFFER" in ignored                          # SipDSPs: only the codecs are used


def test_lines_beyond_the_third_are_ignored_with_a_note(mac_file):
    notes = [i for i in mac_file.ignored if "this phone has 3 lines" in i]
    assert len(notes) == 5                                    # ids 3..7
    assert any("id=7" in n and "although enabled" in n for n in notes)
    assert not any(k.startswith("account.4") for k in mac_file.values)


def test_a_bad_value_is_a_problem_naming_the_attribute():
    r = config('<all><sipUsers><sipUser id="0" RefreshTime="abc" UserNumber="2101"/>'
               '</sipUsers></all>')
    assert r.problems == ['sipUsers/sipUser id=0 (line 1): RefreshTime="abc": must be a '
                          'whole number']
    r = config('<all><sipUsers><sipUser id="0" RefreshTime="5"/></sipUsers></all>')
    assert "account.1.expires" in r.problems[0] and "at least 20" in r.problems[0]
    r = config('<all><calls><call callwaiting="yes"/></calls></all>')
    assert "callwaiting" in r.problems[0] and "0 or 1" in r.problems[0]
    r = config('<all><Privisions><privision protocol="7" Firmware="gopher://x"/></Privisions>'
               '</all>')
    assert len(r.problems) == 2


def test_a_secret_that_fails_a_check_is_not_echoed():
    r = config('<all><sipUsers><sipUser id="0" Password="a&#10;b"/></sipUsers></all>')
    assert r.problems == ["sipUsers/sipUser id=0 (line 1): Password=(secret) "
                          "(account.1.password): must be a single line"]
    r = config('<all><Privisions><privision AESEnable="x" AESKey="k3y"/></Privisions></all>')
    assert r.problems and "k3y" not in r.problems[0]


def test_empty_numbers_leave_the_setting_alone():
    r = config('<all><sipUsers><sipUser id="0" RefreshTime="" EnableAccount=""/></sipUsers>'
               '</all>')
    assert r.problems == [] and r.values == {}
    assert len(r.ignored) == 2


def test_an_element_twice_is_a_problem():
    r = config('<all><sipUsers><sipUser id="0"/><sipUser id="0"/></sipUsers></all>')
    assert "appears twice" in r.problems[0]


def test_one_value_for_all_lines_comes_from_the_first_line():
    r = config('<all><sipUsers><sipUser id="0" PollingRegistrationTime="30"/>'
               '<sipUser id="1" PollingRegistrationTime="60"/></sipUsers></all>')
    assert r.values["sip.retry_interval"] == 30
    assert any("keeping 30" in i for i in r.ignored)


def test_the_global_rtp_range_wins_over_the_lines():
    r = config('<all><sipUsers><sipUser id="0" RTPBegin="10000" RTPEND="10100"/></sipUsers>'
               '<sipServers><sipserver BeginPort="20000" EndPort="20500"/></sipServers></all>')
    assert (r.values["sip.rtp_port"], r.values["sip.rtp_ports"]) == (20000, 500)


@pytest.mark.parametrize("time,expected", [("0", "00:00"), ("23", "23:00"), ("24", ""),
                                           ("", ""), ("7:30", "07:30")])
def test_the_provisioning_time_is_an_hour_or_none(time, expected):
    r = config(f'<all><Privisions><privision time="{time}"/></Privisions></all>')
    assert r.values["provisioning.time"] == expected


def test_forwarding_needs_the_switch_and_the_number():
    r = config('<all><calls><call Unconditional="1" UnconditionalNum="2000" '
               'busytransfer="1" busytransferNum="" UnAnswer="0" UnAnswerNum="3000"/></calls>'
               '</all>')
    assert r.values["forward.always"] == "2000"
    assert "forward.busy" not in r.values
    assert r.values["forward.no_answer"] == ""


def test_aes_fields():
    r = config('<all><Privisions><privision AESEnable="1" AESKey="k3y"/></Privisions></all>')
    assert r.values["provisioning.aes_key"] == "k3y"
    r = config('<all><Privisions><privision AESEnable="0" AESKey="k3y"/></Privisions></all>')
    assert r.values["provisioning.aes_key"] == ""
    r = config('<all><Privisions><privision AESEnable="1"/></Privisions></all>')
    assert "provisioning.aes_key" not in r.values


def test_attribute_names_are_matched_in_any_case():
    r = config('<all><PRIVISIONS><Privision FREQENCY="12"/></PRIVISIONS></all>')
    assert r.values["provisioning.frequency_hours"] == 12


# --- hostile or broken XML ---------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE all [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<all><sipUsers><sipUser id="0" Describe="&lol3;"/></sipUsers></all>"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE all [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<all><sipUsers><sipUser id="0" Describe="&xxe;"/></sipUsers></all>"""


def test_billion_laughs_is_refused():
    with pytest.raises(BadFile, match=r"x.xml contains an XML entity declaration; refused "
                                      r"\(entity expansion attack\?\)"):
        parse_config(BILLION_LAUGHS, name="x.xml")


def test_an_external_entity_is_refused():
    with pytest.raises(BadFile, match="entity declaration; refused"):
        parse_config(EXTERNAL, name="x.xml")


def test_a_dtd_is_refused():
    with pytest.raises(BadFile, match="contains a DTD"):
        parse_config(b'<?xml version="1.0"?><!DOCTYPE all SYSTEM "http://evil/x.dtd"><all/>',
                     name="x.xml")
    with pytest.raises(BadFile, match="contains a DTD"):
        parse_config(b"<!DOCTYPE all><all/>", name="x.xml")


def test_malformed_xml_names_the_position():
    with pytest.raises(BadFile, match=r"x.xml is not well-formed XML: mismatched tag at "
                                      r"line 3, column 3"):
        parse_config(b"<all>\n<calls>\n</all>", name="x.xml")


def test_a_truncated_file_names_the_position():
    data = sample("00268b1a2b3c.xml")[:700]
    with pytest.raises(BadFile, match=r"not well-formed XML: .* at line \d+, column \d+"):
        parse_config(data, name="x.xml")


def test_oversize_and_empty_and_wrong_root_are_refused():
    with pytest.raises(BadFile, match="limit is 1024 KiB"):
        parse_config(b"<all>" + b" " * (1 << 20) + b"</all>", name="x.xml")
    with pytest.raises(BadFile, match="x.xml is empty"):
        parse_config(b"  \n", name="x.xml")
    with pytest.raises(BadFile, match="root element is <config>, expected <all>"):
        parse_config(b"<config/>", name="x.xml")


def test_an_encrypted_file_says_what_to_set():
    with pytest.raises(DecryptError, match="set provisioning.aes_key"):
        parse_config(b"Salted__12345678" + bytes(32), name="x.xml")


# --- export and import round trip --------------------------------------------------------

SPECIAL = {
    "sip.bind": "127.0.0.1", "sip.user_agent": "Test <agent> & \"co\"",
    "server": "pbx.example.net:5070", "secondary_server": "backup.example.net",
    "outbound_proxy": "sbc.example.net:5061", "user": "2101", "auth_user": "auth-2101",
    "password": "pw&<\"'>\t", "label": "Désk \"1\" <a&b>", "display_name": "Ånne O'Neil",
    "phone.hotline": "2100", "phone.date_format": "%d.%m.%Y",
    "voicemail": "*98", "phone.voicemail": "*97",
    "forward.always": "2000", "forward.busy": "2001", "forward.no_answer": "2002",
    "dialplan.digit_map": "(*xx|[2-9]xxx|0.)", "provisioning.url": "https://pbx.example.net/p",
    "provisioning.username": "phones", "provisioning.password": "prov&pw",
    "provisioning.ca_file": "/etc/ssl/ca.pem", "provisioning.time": "04:15",
    "provisioning.aes_key": "s3cret key", "hardware.mac": "00:26:8b:01:02:03",
    "web.listen": "0.0.0.0:8081", "web.user": "admin",
    "web.password_hash": hash_password("admin-pw", salt=b"0123456789abcdef"),
    "web.user_password_hash": hash_password("desk-pw-1", salt=b"fedcba9876543210"),
    "web.user_name": "desk", "sip.codecs": ("PCMU", "G729", "opus", "speex/16000"),
    "phone.blacklist": ("1900*", "5551234"), "phone.ip_allow": ("10.0.0.0/8",),
    "phone.emergency": ("112",), "dialplan.rules": ("prefix=9 delete=1",),
    "paging.multicast": ("239.1.1.1:5000", "239.1.1.2:5001"),
    "sip.trusted": ("10.0.0.5", "10.0.1.0/24"), "paging.intercom_allow": ("10.0.2.9",),
    "phone.pickup_code": "*97", "phone.directed_pickup_code": "*98",
    "phone.park_code": "*85", "phone.park_retrieve_code": "*86",
    "network.ip": "192.168.0.200", "network.mask": "255.255.255.0",
    "network.gateway": "192.168.0.1", "network.dns1": "192.168.0.1", "network.dns2": "9.9.9.9",
    **{f"{s}.{k}": v for s in ("ldap", "ldap2") for k, v in (
        ("name_filter", "(cn=%s*)"), ("number_filter", "(telephoneNumber=%)"),
        ("name_attributes", ("displayName",)), ("number_attributes", ("mobile", "pager")))},
}


def different(key: str, f: dataclasses.Field):
    """A valid value for `key` that is not its default."""
    short = key.split(".", 2)[-1] if key.startswith("account.") else key
    if short in SPECIAL:
        return SPECIAL[short]
    m, default = f.metadata, f.default
    if m["choices"]:
        return next(c for c in m["choices"] if c != default)
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 1 if m["max"] is None or default + 1 <= m["max"] else default - 1
    return f"x-{short}"


@pytest.fixture(scope="module")
def everything_changed() -> Settings:
    settings, problems = apply(Settings(), {k: different(k, f) for k, f in FIELDS.items()})
    assert problems == []
    unchanged = [k for k in FIELDS if settings.get(k) == Settings().get(k)]
    assert unchanged == [], "teach different() a value for these settings"
    return settings


def test_export_then_import_gives_back_every_setting(everything_changed):
    data = export_config(everything_changed, include_secrets=True)
    result = parse_config(data, name="backup.xml")
    assert result.problems == [] and result.ignored == []
    restored, problems = apply(Settings(), result.values)
    assert problems == []
    assert {k: restored.get(k) for k in FIELDS} == {k: everything_changed.get(k)
                                                      for k in FIELDS}


def test_export_of_the_factory_settings_reads_back_the_same():
    data = export_config(Settings(), include_secrets=True)
    restored, _ = apply(Settings(), parse_config(data, name="x.xml").values)
    assert to_document(restored) == {}


def test_the_export_uses_escene_fields_first(everything_changed):
    text = export_config(everything_changed, include_secrets=True).decode()
    assert '<sipUser id="0" EnableAccount="1"' in text
    assert 'DomainName="pbx.example.net:5070" ProxyServerAddress="sbc.example.net:5061"' in text
    assert 'UserNumber="2101"' in text and 'Freqency="25"' in text
    assert '<deskphone key="phone.dial_timeout"' not in text      # DialOutMaxTime has it
    assert '<deskphone key="phone.date_format" value="%d.%m.%Y" />' in text  # no Escene code
    assert '<deskphone key="sip.bind" value="127.0.0.1" />' in text
    # the codec order in Escene's names where it has one; the manual's others disabled
    assert ('<dsp enableCode0="G711U" enableCode1="G729A" enableCode2="opus" '
            'enableCode3="speex/16000" disableCode0="G722" disableCode1="G711A" '
            'disableCode2="G723" />') in text
    assert '<password UsrName="admin" User="desk" />' in text   # passwords only as hashes
    assert 'SIPQos="27" RTPQos="47"' in text and 'key="sip.codecs"' not in text


def test_an_escene_date_format_goes_in_the_escene_field():
    s, _ = apply(Settings(), {"phone.date_format": "%Y-%m-%d"})
    text = export_config(s).decode()
    assert 'DateFormat="4"' in text and "phone.date_format" not in text


def test_secrets_are_left_out_unless_asked(everything_changed):
    data = export_config(everything_changed)
    for secret in ("pw&amp;", "prov&amp;pw", "s3cret key", "pbkdf2_sha256", "AESKey",
                   'Password="'):
        assert secret not in data.decode()
    result = parse_config(data, name="x.xml")
    assert not any(FIELDS[k].metadata["secret"] for k in result.values)
    # importing it keeps the secrets the phone has
    mine, _ = apply(Settings(), {"account.1.password": "keep-me"})
    restored, _ = apply(mine, result.values)
    assert restored.account[1].password == "keep-me"


def test_only_the_given_values_are_written(everything_changed):
    data = render_config({"account.2.user": "2199", "phone.dial_timeout": 7})
    assert parse_config(data, name="x.xml").values == {"account.2.user": "2199",
                                                       "phone.dial_timeout": 7}
    for key in FIELDS:                     # one at a time: nothing else creeps in
        value = everything_changed.get(key)
        assert parse_config(render_config({key: value}), name="x.xml").values == {key: value}


def test_blf_transfer_follows_the_escene_fields():
    """BLFTransferEnable/Mode map to phone.blf_transfer (firmware/features/memkeys.py)."""
    xml = '<all><calls><call BLFTransferEnable="1" BLFTransferMode="1"/></calls></all>'
    assert config(xml).values == {"phone.blf_transfer": "attended"}
    assert config(xml.replace('Enable="1"', 'Enable="0"')).values == {
        "phone.blf_transfer": "off"}
    assert 'BLFTransferEnable="1" BLFTransferMode="0"' in render_config(
        {"phone.blf_transfer": "blind"}).decode()


def test_our_section_wins_and_is_checked():
    r = config('<all><RouteGoals><route DialOutMaxTime="4"/></RouteGoals><deskphones>'
               '<deskphone key="phone.dial_timeout" value="9"/>'
               '<deskphone key="phone.blacklist" value="[&quot;1900*&quot;]"/>'
               '<deskphone key="future.setting" value="1"/></deskphones></all>')
    assert r.values == {"phone.dial_timeout": 9, "phone.blacklist": ("1900*",)}
    assert any("future.setting" in i for i in r.ignored)
    r = config('<all><deskphones><deskphone key="phone.dial_timeout" value="99"/>'
               '</deskphones></all>')
    assert "at most 30" in r.problems[0]


def test_a_backup_may_be_our_toml_or_the_xml(everything_changed):
    toml = b"[phone]\ndial_timeout = 9\n[account.1]\nuser = \"2101\"\n[old]\nthing = 1\n"
    r = import_backup(toml, "settings.toml")
    assert r.kind == "toml" and r.values == {"phone.dial_timeout": 9, "account.1.user": "2101"}
    assert r.ignored == ["old.thing: no such setting in this firmware; ignored"]
    assert import_backup(b"[phone]\ndial_timeout = 99\n", "s.toml").problems
    xml = export_config(everything_changed, include_secrets=True)
    assert import_backup(xml, "backup.xml").kind == "escene"
    with pytest.raises(BadFile, match="neither XML nor valid TOML"):
        import_backup(b"dial_timeout = = 3", "s.toml")


# --- keys: <account>_Extern.xml --------------------------------------------------------

def test_memory_expansion_and_fixed_keys_are_read():
    layout = parse_extern(sample("2101_Extern.xml"), name="2101_Extern.xml")
    assert layout.key("p1") == MemoryKey(0, "blf", "2102", "Bob", account=1)
    assert layout.key("p2").account is None                        # 127: automatic
    assert layout.key("p3") == MemoryKey(2, "speed_dial", "004930555123", "Head office", 2)
    assert [layout.key(f"p{i}").type for i in range(4, 9)] == [
        "paging", "intercom", "pickup", "dtmf", "call_park"]
    assert layout.key("p9") is None and layout.key("p10") is None  # empty, unknown type
    assert layout.key("e1.1").label == "Eve"
    assert layout.key("e1.32").account == 3
    assert layout.key("e2.5").number == "2305"
    assert layout.function_of("soft4") == ProgramKey("soft4", "dnd", label="DND")
    assert layout.function_of("service").function == "call_forward"
    assert layout.function_of("redial") is None                    # Type 0: its own function
    assert any("id=12" in i and "12 keys" in i for i in layout.ignored)
    assert any("Type=10" in i for i in layout.ignored)
    assert any("Screensavers" in i for i in layout.ignored)


def test_the_older_programbutton_form_is_read():
    layout = parse_extern(sample("2101_Extern_old.xml"), name="2101_Extern.xml")
    assert [k.name for k in layout.memory] == ["p1", "p2", "p3"]
    assert layout.key("p3") == MemoryKey(2, "speed_dial_prefix", "9", "Outside", account=3)


def test_both_generations_in_one_file_the_newer_wins():
    layout = parse_extern(b'<all><Programbuttons><Programbutton id="0" Type="5" Num="1"/>'
                          b'</Programbuttons><hotlines><hotline id="0" Type="1" '
                          b'HotlineNum="2"/></hotlines></all>', name="x")
    assert layout.key("p1").number == "2"


def test_a_bad_key_refuses_the_file():
    with pytest.raises(BadFile, match=r"x: hotlines/hotline id=0 .*SipAccounts must be"):
        parse_extern(b'<all><hotlines><hotline id="0" Type="1" SipAccounts="99"/></hotlines>'
                     b'</all>', name="x")
    with pytest.raises(BadFile, match="must be a whole number"):
        parse_extern(b'<all><hotlines><hotline id="0" Type="blf"/></hotlines></all>', name="x")


def test_a_layout_survives_the_file_json_and_disk(tmp_path):
    layout = parse_extern(sample("2101_Extern.xml"), name="2101_Extern.xml")
    assert parse_extern(export_extern(layout), name="again") == layout
    assert KeyLayout.from_json(layout.to_json()) == layout
    layout.save(tmp_path / "keys.json")
    assert KeyLayout.load(tmp_path / "keys.json") == layout
    assert list(tmp_path.iterdir()) == [tmp_path / "keys.json"]


# --- phone books -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def personal() -> Phonebook:
    return parse_phonebook(sample("2101_Phonebook.xml"), name="2101_Phonebook.xml")


def test_a_personal_phone_book_is_read(personal):
    assert [c.name for c in personal.contacts] == ["Anna Schmidt", "Ben Okafor",
                                                   "Paper Supply Co", "Ánh Nguyễn"]
    anna, ben, paper, _ = personal.contacts
    assert anna.mobile == "+491701234567" and anna.group == "Family" and anna.account is None
    assert ben.office == "2105" and ben.blf and ben.account == 1
    assert paper.office == "0305550199" and paper.other == "orders@supply.example"
    assert [g.name for g in personal.groups] == ["Family", "Suppliers"]
    assert personal.groups[0].ring == "Ring3"
    assert personal.ignored == ["not used by this phone: NewVer, speedid"]


def test_the_enterprise_phone_book_has_the_same_format():
    book = parse_phonebook(sample("Enterprise_Phonebook.xml"), name="Enterprise_Phonebook.xml")
    assert len(book.contacts) == 5
    assert [c.name for c in book.search("m")] == ["Maria Lopez", "Mark Lee"]


def test_search_by_name_prefix_or_number_part(personal):
    assert [c.name for c in personal.search("an")] == ["Ánh Nguyễn", "Anna Schmidt"]
    assert [c.name for c in personal.search("NGUY")] == ["Ánh Nguyễn"]
    assert [c.name for c in personal.search("supply")] == ["Paper Supply Co"]
    assert [c.name for c in personal.search("555")] == ["Paper Supply Co"]
    assert [c.name for c in personal.search("170 123")] == ["Anna Schmidt"]
    assert personal.search("zz") == []
    assert len(personal.search("")) == 4


def test_a_phone_book_survives_backup_json_and_disk(personal, tmp_path):
    assert parse_phonebook(export_phonebook(personal), name="backup.xml") == personal
    assert Phonebook.from_json(personal.to_json()) == personal
    personal.save(tmp_path / "book.json")
    assert Phonebook.load(tmp_path / "book.json") == personal


def test_a_bad_contact_refuses_the_book():
    with pytest.raises(BadFile, match="accountid='x'"):
        parse_phonebook(b'<all><PhoneBooks><book FirstName="A" accountid="x"/></PhoneBooks>'
                        b'</all>', name="b.xml")
    with pytest.raises(BadFile, match="not a number"):
        parse_phonebook(b'<all><PhoneBooks><book FirstName="A" OfficeNum="12 ab"/>'
                        b'</PhoneBooks></all>', name="b.xml")


def test_a_phone_book_refuses_entities_too():
    with pytest.raises(BadFile, match="entity declaration"):
        parse_phonebook(BILLION_LAUGHS, name="b.xml")
