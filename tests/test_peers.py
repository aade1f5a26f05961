"""Self-tests of the real-peer layer (tests/peers): each helper against the others.

Kept fast (a few seconds in all) so it can run before every suite that leans on the peers.
"""

from __future__ import annotations

import socket

import pytest

try:  # repo root on sys.path (python -m pytest from the root, or tests/__init__.py exists)
    from tests.peers import (PeerError, free_port, free_port_block, message_rtds,
                             parse_messages)
    from tests.peers.fixtures import kamailio, peers  # noqa: F401  (fixtures)
    from tests.peers.ports import HeldPort, listeners
except ModuleNotFoundError:  # plain `pytest`: rootdir-relative, tests/ itself is on sys.path
    from peers import (PeerError, free_port, free_port_block,  # type: ignore
                       message_rtds, parse_messages)
    from peers.fixtures import kamailio, peers  # type: ignore # noqa: F401
    from peers.ports import HeldPort, listeners  # type: ignore


def _bind_all(port: int, types) -> None:
    """Bind `port` the way the peers' servers do: TCP with SO_REUSEADDR, as free_port checks.
    Without it a port left in TIME_WAIT by another worker's closed connection cannot be bound
    for listening although it is free (a CI run failed so: "Address already in use")."""
    socks = []
    try:
        for t in types:
            s = socket.socket(socket.AF_INET, t)
            socks.append(s)
            if t == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    finally:
        for s in socks:
            s.close()


def test_free_ports():
    for kind, types in (("udp", [socket.SOCK_DGRAM]), ("tcp", [socket.SOCK_STREAM]),
                        ("both", [socket.SOCK_DGRAM, socket.SOCK_STREAM])):
        _bind_all(free_port(kind), types)
    block = free_port_block(3)
    assert len(block) == 3 and block[0] % 2 == 0
    assert block == [block[0], block[0] + 2, block[0] + 4]
    for p in range(block[0], block[0] + 6):
        _bind_all(p, [socket.SOCK_DGRAM])


def test_free_port_never_picks_a_port_browsers_refuse(monkeypatch):
    """10080 is in the range and on Chromium's list: a phone's web page there could not be
    opened (a CI run failed "net::ERR_UNSAFE_PORT")."""
    import random
    from tests.peers import ports
    planned: list[int] = []

    class Rigged(random.SystemRandom):          # the planned picks first, then at random
        def randrange(self, lo, hi):
            return planned.pop(0) if planned else super().randrange(lo, hi)
    monkeypatch.setattr(ports.random, "SystemRandom", Rigged)
    planned[:] = [10080] * 50
    assert free_port("tcp") != 10080
    planned[:] = [10079] * 50                     # 10079..10080 holds it
    assert free_port("tcp", span=2) not in (10079, 10080)


def test_a_held_port_is_silent_and_taken_until_released():
    held = HeldPort("both")
    with pytest.raises(OSError):
        _bind_all(held.port, [socket.SOCK_DGRAM])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(0.3)
        c.connect(("127.0.0.1", held.port))
        c.send(b"REGISTER")
        with pytest.raises(socket.timeout):   # no reply, and no ICMP "refused" either
            c.recv(100)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", held.port), timeout=2).close()
    assert held.release() == held.port
    _bind_all(held.port, [socket.SOCK_DGRAM, socket.SOCK_STREAM])


def test_a_port_in_time_wait_is_free_for_a_server():
    """A TCP port whose last connection the server closed first sits in TIME_WAIT: free_port
    may hand it out (a listening server with SO_REUSEADDR takes it), and does."""
    port = free_port("tcp")
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen()
    client = socket.create_connection(("127.0.0.1", port), timeout=2)
    conn, _ = srv.accept()
    conn.close()            # the server's side closes first: its end waits in TIME_WAIT
    client.close()
    srv.close()
    with socket.socket() as plain, pytest.raises(OSError):   # the old check, failed in CI
        plain.bind(("127.0.0.1", port))
    _bind_all(port, [socket.SOCK_STREAM])


def test_a_closed_silent_server_accepts_no_more():
    """SilentServer.close() wakes its accept thread: a listening socket closed while another
    thread is blocked in accept() stays open in the kernel (the blocked call holds it), so
    connections to the port were still taken after close() and counted by no one."""
    from tests.peers.slapd import SilentServer
    server = SilentServer()
    socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    assert server.accepted.wait(2)
    server.close()
    assert not server.thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_kamailio_registers_baresip_with_digest(peers, kamailio):
    phone = peers.baresip(user="1002", password="secret1002", registrar=kamailio.addr)
    assert phone.wait_registered()["type"] == "REGISTER_OK"
    kamailio.wait_register("1002", 200)
    regs = kamailio.registers("1002")
    assert [r["code"] for r in regs] == [401, 200]
    assert regs[1]["reply_expires"] == 300 and regs[1]["src"] == phone.addr
    contacts = kamailio.registered_contacts("1002")
    assert len(contacts) == 1 and contacts[0].endswith(f"@{phone.addr}")
    assert kamailio.registered_contacts("1003") == []
    kamailio.wait_log(r"SIPOUT\|t=[\d.]+\|code=200\|m=REGISTER\|fu=1002", timeout=1)


def test_kamailio_rejects_wrong_password(peers, kamailio):
    phone = peers.baresip(user="1002", password="wrong", registrar=kamailio.addr)
    with pytest.raises(PeerError, match="registration failed"):
        phone.wait_registered()
    assert kamailio.registered_contacts("1002") == []


def test_sipp_call_through_kamailio_to_baresip(peers, kamailio):
    phone = peers.baresip(user="1002", password="secret1002", registrar=kamailio.addr,
                          answermode="auto")
    phone.wait_registered()
    caller = peers.sipp(scenario="uac_call", remote=kamailio.addr, service="1002",
                        variables={"pause_ms": 200})
    assert caller.run() == 0
    ev = phone.wait_event("CALL_ESTABLISHED")
    assert ev["peeruri"].startswith("sip:sipp@")
    phone.wait_event("CALL_CLOSED")
    # (baresip's auto-answer sometimes skips 180: the scenario takes 200 with or without it)
    assert "SIP/2.0 200 OK" in caller.messages()
    # Unknown user: Kamailio answers 404, the uac_call scenario fails.
    nobody = peers.sipp(scenario="uac_call", remote=kamailio.addr, service="1009", timeout=5)
    assert nobody.run(check=False) != 0
    assert "SIP/2.0 404 Not Found" in nobody.messages()


def test_baresip_to_baresip_through_kamailio_has_rtp_both_ways(peers, kamailio):
    alice = peers.baresip(user="1001", password="secret1001", registrar=kamailio.addr)
    bob = peers.baresip(user="1002", password="secret1002", registrar=kamailio.addr,
                        answermode="manual")
    alice.wait_registered()
    bob.wait_registered()
    alice.dial(f"sip:1002@{kamailio.addr}")
    bob.wait_event("CALL_INCOMING")
    alice.wait_event("CALL_RINGING")
    bob.accept()
    for phone in (alice, bob):
        phone.wait_event("CALL_ESTABLISHED")
        phone.wait_event("CALL_RTPESTAB")  # first RTP packet received from the other side
    assert "ESTABLISHED" in alice.listcalls()
    alice.hangup()
    bob.wait_event("CALL_CLOSED")


def test_kamailio_reply_423_then_200(peers):
    k = peers.kamailio(reply_423=3)
    ua = peers.sipp(scenario="uac_register", remote=k.addr, service="1001",
                    keys={"expires": 30}, credentials=("1001", "secret1001"), timeout=10)
    ua.run()
    k.wait_register("1001", 200)
    regs = k.registers("1001")
    assert [r["code"] for r in regs] == [401, 423, 423, 423, 200]
    assert [r["min_expires"] for r in regs[1:4]] == [60, 120, 240]
    assert [r["expires"] for r in regs] == [30, 30, 60, 120, 240]
    assert regs[-1]["reply_expires"] == 240
    assert len({r["call_id"] for r in regs}) == 1
    assert k.registered_contacts("1001") == [f"sip:1001@{ua.addr};transport=UDP"]


def test_kamailio_max_expires_caps_the_granted_interval(peers):
    k = peers.kamailio(max_expires=6)
    ua = peers.sipp(scenario="uac_register", remote=k.addr, service="1002",
                    keys={"expires": 3600}, credentials=("1002", "secret1002"), timeout=10)
    ua.run()
    assert k.wait_register("1002", 200)["reply_expires"] == 6


def test_kamailio_restart_keeps_port_and_forgets_registrations(peers):
    k = peers.kamailio(reply_423=1, min_expires_423=100, min_expires_423_constant=True)
    ua = peers.sipp(scenario="uac_register", remote=k.addr, service="1001",
                    keys={"expires": 30}, credentials=("1001", "secret1001"), timeout=10)
    ua.run()
    k.wait_register("1001", 200)
    assert [r["min_expires"] for r in k.registers("1001")] == [None, 100, None]
    port = k.port
    k.restart()
    assert k.port == port
    assert k.registered_contacts("1001") == []


def test_sipp_ring_cancel_rtd_against_baresip(peers):
    phone = peers.baresip(user="1002", answermode="manual")
    bench = peers.sipp(scenario="uac_ring_cancel", remote=phone.addr, service="1002",
                       calls=5, limit=1, rate=50, trace_rtt=True)
    bench.run()
    rtts = bench.rtt_samples()  # whole ms from sipp itself
    assert len(rtts) == 5 and all(0 <= r < 100 for r in rtts)
    fine = bench.message_rtds()  # µs resolution from the message trace
    assert len(fine) == 5 and all(0 < r < 100 for r in fine)
    assert message_rtds(bench.messages(), request="CANCEL", response=200)
    for _ in range(5):
        phone.wait_event("CALL_INCOMING")
        phone.wait_event("CALL_CLOSED")


@pytest.mark.parametrize("scenario,who_hangs_up,closed", [
    ("uas_answer", "baresip", "Connection reset by user"),
    ("uas_answer_bye", "sipp", "Connection reset by peer"),
    ("uas_busy", None, "486 Busy Here"),
])
def test_sipp_callee_scenarios_with_baresip(peers, scenario, who_hangs_up, closed):
    variables = {"pause_ms": 200} if scenario == "uas_answer_bye" else {}
    callee = peers.sipp(scenario=scenario, variables=variables, timeout=10).start()
    phone = peers.baresip(user="1001")
    phone.dial(f"sip:1003@{callee.addr}")
    if who_hangs_up is not None:
        phone.wait_event("CALL_ESTABLISHED")
    if who_hangs_up == "baresip":
        phone.hangup()
    assert phone.wait_event("CALL_CLOSED")["param"] == closed
    callee.check(callee.wait(10))


def test_sipp_uac_call_against_sipp_uas_answer_with_display_names(peers):
    """Both sides put a display name in Contact; ACK/BYE must still target the bare URI
    (sipp's own [next_url] would copy the display name into the request line)."""
    callee = peers.sipp(scenario="uas_answer", timeout=10).start()
    caller = peers.sipp(scenario="uac_call", remote=callee.addr, service="1003",
                        variables={"pause_ms": 50}, timeout=10)
    caller.run()
    callee.check(callee.wait(10))
    sent = [m["first_line"] for m in parse_messages(caller.messages())
            if m["direction"] == "sent"]
    assert sent[1:] == [f"ACK sip:{callee.addr};transport=UDP SIP/2.0",
                        f"BYE sip:{callee.addr};transport=UDP SIP/2.0"]


def test_sipp_uas_register_423_against_sipp_uac(peers):
    registrar = peers.sipp(scenario="uas_register_423", timeout=10).start()
    ua = peers.sipp(scenario="uac_register", remote=registrar.addr, service="1001",
                    keys={"expires": 30}, timeout=10)
    ua.run()
    registrar.check(registrar.wait(10))
    msgs = [m for m in parse_messages(ua.messages()) if m["direction"] == "received"]
    assert [m["code"] for m in msgs] == [423] * 5 + [200]
    assert "Expires: 960" in msgs[-1]["text"]


def test_kamailio_relays_to_foreign_host_as_outbound_proxy(peers, kamailio):
    """The phone can reach a sipp callee through Kamailio; sipp's own BYE follows the
    Record-Route back through it."""
    callee = peers.sipp(scenario="uas_answer_bye", variables={"pause_ms": 100},
                        timeout=10).start()
    phone = peers.baresip(user="1001", outbound=kamailio.addr)
    phone.dial(f"sip:1003@{callee.addr}")
    phone.wait_event("CALL_ESTABLISHED")
    assert phone.wait_event("CALL_CLOSED")["param"] == "Connection reset by peer"
    callee.check(callee.wait(10))
    assert "Record-Route: <sip:" + kamailio.addr in callee.messages()
    kamailio.wait_log(r"SIPREQ\|t=[\d.]+\|m=BYE\|", timeout=2)
    methods = [e["m"] for e in kamailio.events() if e["kind"] == "SIPREQ"]
    assert {"INVITE", "ACK", "BYE"} <= set(methods)


# --- our phone as a peer (tests/phone.py) ---------------------------------------------------

def test_a_phone_whose_web_port_another_phone_took_is_started_again_on_a_new_one(tmp_path):
    """Another xdist worker's phone can take the web port free_port() picked for ours in
    the second before ours binds it. The other phone answered for ours (same test password)
    until its test ended: a CI run failed "Connection refused" in the middle of a call.
    start() sees whose pid answers and starts ours again on a port picked anew."""
    from tests.phone import PhoneProcess
    with PhoneProcess(tmp_path / "x", account={"user": "1001"}) as stranger:
        ours = PhoneProcess(tmp_path / "b", account={"user": "1002"})
        ours.http_port = ours._picked["http"] = stranger.http_port      # as if picked so
        with ours:
            assert ours.http_port != stranger.http_port
            assert ours.state()["pid"] == ours.proc.pid
            assert stranger.state()["pid"] == stranger.proc.pid


def test_a_phone_whose_web_port_another_server_took_is_started_again_on_a_new_one(tmp_path):
    """Taken by something that is no phone (another test's HTTP server): it answers 404,
    our phone logs that its web page did not start, and start() picks a new port."""
    import http.server
    import threading
    from tests.phone import PhoneProcess
    ours = PhoneProcess(tmp_path / "b", account={"user": "1002"})
    server = http.server.HTTPServer(("127.0.0.1", ours.http_port),
                                    http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with ours:
            assert ours.http_port != server.server_address[1]
            assert ours.state()["pid"] == ours.proc.pid
    finally:
        server.shutdown()
        server.server_close()


def test_a_phone_whose_web_port_a_server_of_another_protocol_took_is_started_again(tmp_path):
    """Taken by a TCP server that speaks no HTTP (Kamailio's SIP/TCP, slapd): our requests
    fail at once, the phone's log says its web page did not start."""
    import threading
    from tests.phone import PhoneProcess
    ours = PhoneProcess(tmp_path / "b", account={"user": "1002"})
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", ours.http_port))
    srv.listen()
    done = threading.Event()

    def hang_up():
        srv.settimeout(0.2)
        while not done.is_set():
            try:
                srv.accept()[0].close()
            except OSError:
                pass
    threading.Thread(target=hang_up, daemon=True).start()
    try:
        with ours:
            assert ours.http_port != srv.getsockname()[1]
            assert ours.state()["pid"] == ours.proc.pid
    finally:
        done.set()
        srv.close()


def test_a_factory_phone_is_checked_by_who_holds_the_port(tmp_path):
    """A factory phone answers 403 without a pid: whose the port is, /proc says."""
    from tests.phone import PhoneProcess
    with PhoneProcess(tmp_path / "x", factory=True) as stranger:
        ours = PhoneProcess(tmp_path / "b", factory=True)
        ours.http_port = ours._picked["http"] = stranger.http_port
        with ours:
            assert ours.http_port != stranger.http_port
            assert ("tcp", "127.0.0.1", ours.http_port) in listeners(ours.proc.pid)


def test_a_phone_whose_sip_port_was_taken_is_started_again_on_a_new_one(tmp_path):
    from tests.phone import PhoneProcess
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        ours = PhoneProcess(tmp_path / "b", account={"user": "1002"})
        taken.bind(("127.0.0.1", ours.sip_port))                       # after the pick
        with ours:
            assert ours.sip_port != taken.getsockname()[1]
            s = ours.state()
            assert not s["errors"], s["errors"]
            assert ("udp", "127.0.0.1", ours.sip_port) in listeners(ours.proc.pid)


def test_a_port_a_test_chose_on_purpose_is_not_changed(tmp_path):
    """tests/test_api.py's busy SIP port: the phone says so, and start() leaves it."""
    from tests.phone import PhoneProcess
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        p = PhoneProcess(tmp_path / "busy", account={"user": "1001"})
        p.sip_port = p.settings_doc["sip"]["port"] = taken.getsockname()[1]
        with p:
            assert p.sip_port == taken.getsockname()[1]
            assert "in use" in p.state()["errors"][0]
