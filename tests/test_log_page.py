"""Phone Maintenance > Log (manual §7): the log level and the SIP trace apply at once, and
the administrator downloads the logs (GET /api/logs/phone.log, /api/logs/sip.log) from a
real phone, signed in with HTTP Basic; the user role may not."""
from __future__ import annotations

import time
import types
from base64 import b64encode

import pytest

from firmware.api import Api
from tests.phone import PhoneProcess, password_hash
from tests.test_sip_gate import final_answer, request, udp

USER_PASSWORD = "desk-user-pw-1"


def test_a_log_is_its_rotated_files_oldest_first_then_the_current_one(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("phone.log.2", "phone.log.10", "phone.log.1", "phone.log", "sip.log.1",
                 "phone.log.bad"):
        (logs / name).write_text(name)
    api = Api(types.SimpleNamespace(data_dir=tmp_path))
    assert [p.name for p in api.log_files("phone.log")] == [
        "phone.log.10", "phone.log.2", "phone.log.1", "phone.log"]
    assert [p.name for p in api.log_files("sip.log")] == ["sip.log.1"]
    assert api.log_files("../settings.toml") is None
    assert api.log_files("settings.toml") is None


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    p = PhoneProcess(tmp_path_factory.mktemp("logpage"),
                     settings={"web.user_password_hash": password_hash(USER_PASSWORD)})
    p.start()
    yield p
    p.stop()


def download(phone: PhoneProcess, name: str, auth: str | None = None) -> tuple[int, str, dict]:
    import urllib.error
    import urllib.request
    req = urllib.request.Request(f"{phone.base}/api/logs/{name}")
    req.add_header("Authorization", auth or phone.auth)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode(errors="replace"), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace"), dict(e.headers)


def options(phone: PhoneProcess) -> str:
    """An OPTIONS to the phone whose Call-ID is new; returns that Call-ID once answered."""
    with udp() as s:
        packet = request(phone, "OPTIONS", sock=s)
        s.sendto(packet, ("127.0.0.1", phone.sip_port))
        assert final_answer(s).startswith("SIP/2.0 200"), "the phone answers OPTIONS"
    return packet.split(b"Call-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()


def until(pred, what: str, phone: PhoneProcess, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"{what}\nlog:\n{phone.log_tail()}"
        time.sleep(0.05)


def test_the_administrator_downloads_phone_log_as_an_attachment(phone):
    code, text, headers = download(phone, "phone.log")
    assert code == 200, text
    assert headers["Content-Disposition"] == 'attachment; filename="phone.log"'
    assert "SIP up on" in text and "web page and API on" in text
    index = phone.request("GET", "/api/logs")["logs"]
    assert [(x["name"], x["url"]) for x in index] == [
        ("phone.log", "/api/logs/phone.log"), ("sip.log", "/api/logs/sip.log")]
    assert index[0]["bytes"] > 0 and index[0]["files"] >= 1


def test_the_user_role_may_not_download_the_logs_and_no_other_file_is_served(phone):
    user = "Basic " + b64encode(f"user:{USER_PASSWORD}".encode()).decode()
    assert phone.status("GET", "/api/state", auth=user)[0] == 200, "the user signs in"
    code, text, _ = download(phone, "phone.log", auth=user)
    assert code == 403, text
    for name in ("settings.toml", "..%2Fsettings.toml", "phone.log.1"):
        code, text, _ = download(phone, name)
        assert code == 404 and "phone.log, sip.log" in text, (name, code, text)


def test_the_log_level_applies_at_once(phone):
    reply = phone.settings({"log.level": "warning"})
    assert reply["restart_needed"] == []
    phone.settings({"phone.dial_timeout": 9})          # logged at info: "settings changed"
    phone.settings({"log.level": "info"})
    phone.settings({"phone.dial_timeout": 8})
    _, text, _ = download(phone, "phone.log")
    assert "settings changed: phone.dial_timeout" in text
    assert text.count("settings changed: phone.dial_timeout") == 1, \
        "the change made at level warning was not logged"


def test_the_sip_trace_goes_on_and_off_at_once_and_downloads(phone):
    code, text, _ = download(phone, "sip.log")
    assert code == 404 and "turn SIP Trace on" in text
    reply = phone.settings({"log.sip_trace": True})
    assert reply["restart_needed"] == []
    # the SIP thread switches it a moment after the reply; the phone's log says when
    until(lambda: "SIP trace on" in download(phone, "phone.log")[1], "trace on", phone)
    seen = options(phone)
    until(lambda: seen in download(phone, "sip.log")[1], "the OPTIONS in sip.log", phone)
    _, text, headers = download(phone, "sip.log")
    assert headers["Content-Disposition"] == 'attachment; filename="sip.log"'
    assert "RX" in text and "TX" in text and "SIP/2.0 200" in text, text[-2000:]
    phone.settings({"log.sip_trace": False})
    until(lambda: "SIP trace off" in download(phone, "phone.log")[1], "trace off", phone)
    unseen = options(phone)
    after = options(phone)          # a second exchange: the first is surely past the trace
    _, text, _ = download(phone, "sip.log")
    assert seen in text and unseen not in text and after not in text


def test_the_sip_trace_switch_reaches_the_sip_thread_without_a_restart():
    from firmware.settings import FIELDS
    from tests.fakes.rig import build
    assert not FIELDS["log.sip_trace"].metadata["restart"]
    rig = build()
    rig.update({"log.sip_trace": True})
    rig.settle()
    rig.update({"log.sip_trace": False})
    rig.settle()
    assert rig.sip.commands("sip_trace") == [{"on": True}, {"on": False}]
