"""A bare pjsua2 Python UA: the reference `make bench` compares our phone with.

    python tests/bench_bare_pjsua2.py --port 5070 --registrar 127.0.0.1:5060 \
        --user 1003 --password secret1003 [--rtp-port 24000]

Only what any pjsua2 phone needs, built the same way as firmware/sip/engine.py (notes/pjsua2.md):
one Python thread owns the Endpoint (threadCnt=0, mainThreadOnly), null audio device, UDP
transport and RTP on 127.0.0.1, one account that registers at once. An incoming INVITE is
answered 180 from the callback and left ringing (a CANCEL ends it), or with --answer 200 at
once (auto answer, for the bench's back-to-back calls). SIGTERM/SIGINT end it
cleanly (every pjsua2 object is released on the pjsua thread, then libDestroy).

No settings, no web, no LCD: the difference between this and `python -m firmware` is what
our firmware costs.
"""
from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading

import pjsua2 as pj


class Acc(pj.Account):
    def __init__(self, ua: "BareUA"):
        super().__init__()
        self.ua = ua

    def onRegState(self, prm):
        if not self.ua.quiet:
            print(f"reg: {prm.code} {prm.reason}", flush=True)

    def onIncomingCall(self, prm):
        call = Call(self.ua, self, prm.callId)
        op = pj.CallOpParam()
        op.statusCode = 200 if self.ua.args.answer else 180
        call.answer(op)
        self.ua.calls[prm.callId] = call


class Call(pj.Call):
    def __init__(self, ua: "BareUA", acc: Acc, call_id: int):
        super().__init__(acc, call_id)
        self.ua = ua

    def onCallState(self, prm):
        if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED:
            # released on the pjsua thread after the callback returns
            self.ua.dead.append(self.ua.calls.pop(self.getId(), self))


class BareUA:
    def __init__(self, args):
        self.args = args
        self.quiet = args.quiet
        self.calls: dict[int, Call] = {}
        self.dead: list = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:   # the pjsua thread
        a = self.args
        ep = pj.Endpoint()
        acc = None
        try:
            ep.libCreate()
            cfg = pj.EpConfig()
            cfg.uaConfig.threadCnt = 0
            cfg.uaConfig.mainThreadOnly = True
            cfg.logConfig.level = cfg.logConfig.consoleLevel = 1
            cfg.medConfig.hasIoqueue = True
            ep.libInit(cfg)
            tc = pj.TransportConfig()
            tc.port = a.port
            tc.boundAddress = a.bind
            tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
            ep.audDevManager().setNullDev()
            ep.libStart()
            acfg = pj.AccountConfig()
            acfg.idUri = f"sip:{a.user}@{a.registrar}"
            acfg.regConfig.registrarUri = f"sip:{a.registrar}"
            acfg.regConfig.timeoutSec = a.expires
            acfg.sipConfig.transportId = tid
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", a.user, 0,
                                                            a.password))
            acfg.mediaConfig.transportConfig.port = a.rtp_port
            acfg.mediaConfig.transportConfig.boundAddress = a.bind
            acc = Acc(self)
            acc.create(acfg, True)   # registers now
            while not self.stop.is_set():
                ep.libHandleEvents(a.wait_ms)
                self.dead.clear()
        except BaseException as e:  # noqa: BLE001 - reported by main()
            self.error = e
        finally:
            try:
                ep.hangupAllCalls()
                ep.libHandleEvents(20)
            except Exception:  # noqa: BLE001
                pass
            self.calls.clear()
            self.dead.clear()
            if acc is not None:
                acc.shutdown()
                del acc
            ep.libDestroy()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True, help="SIP port (UDP)")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--rtp-port", type=int, default=4000)
    p.add_argument("--registrar", required=True, help="host:port")
    p.add_argument("--user", required=True)
    p.add_argument("--password", default="")
    p.add_argument("--expires", type=int, default=3600)
    p.add_argument("--wait-ms", type=int, default=1000,
                   help="libHandleEvents timeout (firmware/sip/engine.py uses 1000)")
    p.add_argument("--answer", action="store_true", help="answer every call 200 at once")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    ua = BareUA(args)

    def stop(*_):
        ua.stop.set()
        # wake libHandleEvents at once: pjsip drops a CRLF keep-alive silently
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\r\n\r\n", (args.bind, args.port))

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    t = threading.Thread(target=ua.run, name="pjsua")
    t.start()
    t.join()   # the main thread only waits (signal handlers run here)
    if ua.error is not None:
        print(f"bare pjsua2 failed: {ua.error!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
