"""SIP: everything that talks to pjsua2 and reads SIP text (docs/architecture.md, "SIP").

    engine.py    SipEngine: the SIP thread, its command queue, start/stop; SipConfig
    accounts.py  lines as pjsua accounts (AccountSpec, registration, MWI, keep-alive)
    calls.py     pjsua's Call and its callbacks -> events; the call commands; a new INVITE
    media.py     tones, the audio bridge, volume, recorders
    policy.py    IncomingPolicy: the one place that decides whether a call rings
    text.py      the SIP text toolkit: one header parser, one URI helper
    native.py    the ctypes seam into pjsip's C API and its start-up self-check
    gate.py      what happens to a request before pjsua sees it (docs/sip-gate.md)
    pjblf.py     BLF subscriptions (dialog event package) on the SIP thread
    trust.py     who may ring, answer and notify us
    registration.py  when to REGISTER, retry, fail over, keep alive

Callers write `from firmware.sip import SipEngine`. Names are looked up lazily, so
`firmware.sip.text` can be used without loading pjsua2.
"""
from __future__ import annotations

import importlib

_WHERE = {
    "SipEngine": "engine", "SipConfig": "engine", "VERSION": "engine",
    "AccountSpec": "accounts", "refresh_after": "accounts", "refresh_margin": "accounts",
    "IncomingPolicy": "policy", "AutoAnswer": "policy", "auto_answer": "policy",
    "Verdict": "policy",
    "Message": "text", "headers": "text", "params": "text", "split_uri": "text",
    "user_of": "text", "host_of": "text", "host_only": "text", "split_host_port": "text",
    "sip_uri": "text", "uri_key": "text", "source_ip": "text", "parse_summary": "text",
    "Trust": "trust", "ServerTrust": "trust",
    "Registration": "registration",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'firmware.sip' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"firmware.sip.{module}"), name)
    globals()[name] = value
    return value
