"""Our own ports in pjsip's bridge (the multicast pages' player and sender) are let go only
once the media clock has stopped: its thread calls every port each 20 ms, and a port made in
Python that died while the clock ran crashed the phone at the end of a page (CI: SIGSEGV,
"TypeError: in method 'AudioMediaPort_onFrameReceived'"). firmware/sip/media.py attach_port.

The engine runs in a child process, so a crash fails the test with its output instead of
killing the test run."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.peers.ports import free_port

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import sys, time
    from firmware.features.multicast import JitterBuffer, _ports
    from firmware.sip.engine import SipConfig, SipEngine

    engine = SipEngine(config=SipConfig(port=int(sys.argv[1]), bind="127.0.0.1",
                                        rtp_port=int(sys.argv[2]), rtp_ports=10),
                       post=lambda ev: None)
    engine.start().result(20)
    Player, Sender = _ports()
    made = []
    def player():
        made.append("in")
        return Player(JitterBuffer())
    def sender():
        made.append("out")
        return Sender()
    def attach():
        engine.attach_port("multicast-in", player, hear=True)
        engine.attach_port("multicast-out", sender, hear=False).result(5)
    def alive():
        return engine.submit(lambda: sorted(engine._own_ports)).result(5)

    engine.tone("dial").result(5)           # the media clock runs all along
    for _ in range(int(sys.argv[3])):
        attach()
        engine.detach_port("multicast-in")
        engine.detach_port("multicast-out").result(5)
    print("made", len(made), "ports; alive", alive())
    engine.tone(None).result(5)             # nothing left to play: the clock stops
    for _ in range(100):                    # let go after a loop turn (bounded: 5 s)
        if not alive():
            break
        time.sleep(0.05)
    print("clock stopped; alive", alive())
    attach()
    engine.tone("busy").result(5)
    print("made", len(made), "ports")
    engine.stop()                           # both connected, the clock running
    print("stopped")
""")


def test_pages_that_start_and_end_while_the_clock_runs_never_crash_the_phone():
    # 3000 ends of a page: with the old code (a port made and destroyed for each page)
    # this crashed in 4 runs of 6.
    r = subprocess.run([sys.executable, "-X", "faulthandler", "-c", CHILD,
                        str(free_port("udp")), str(free_port("udp")), "3000"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-4000:]}"
    assert r.stdout.splitlines() == [
        "made 2 ports; alive ['multicast-in', 'multicast-out']",   # kept while it ran
        "clock stopped; alive []",                                  # then let go
        "made 4 ports",
        "stopped"], r.stdout + r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "TypeError" not in r.stderr, r.stderr[-4000:]
