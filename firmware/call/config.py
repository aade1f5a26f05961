"""What the phone's settings mean for the call core: what the screen shows, and what the
SIP thread answers to a new INVITE before the phone hears of it (a fast 180 or a 486)."""
from __future__ import annotations

import ipaddress

from firmware.call.dialling import target_uri
from firmware.call.state import PhoneState
from firmware.settings import ACCOUNTS, Settings
from firmware.sip.policy import IncomingPolicy
from firmware.timeofday import zone_offset

LINES = 3                 # line keys: call appearances (ES330: at most 3 calls)


def show(settings: Settings, s: PhoneState) -> None:
    """The settings the screen and the tones read from the state."""
    p = settings.phone
    s.dnd = p.dnd
    s.missed_call_display = p.missed_call_display
    s.call_waiting_tone = p.call_waiting_tone
    s.dnd_softkey, s.hangup_tone = p.dnd_softkey, p.hangup_tone
    s.time_format, s.date_format = p.time_format, p.date_format
    s.language = p.language
    t = settings.time
    s.utc_offset = zone_offset(t.time_zone, t.dst)
    if t.mode in ("system", "manual"):   # SNTP's and the SIP server's shift: features/clock.py
        s.clock_shift = float(t.manual_offset if t.mode == "manual" else 0)
    s.backlight = settings.lcd.backlight
    s.backlight_timeout = settings.lcd.backlight_timeout
    v = settings.volume
    s.volumes = {name: getattr(v, name) for name in VOLUMES}
    s.ring_types = {i: settings.account[i].ring_type or v.ring_type
                    for i in range(1, ACCOUNTS + 1)}


# what the person hears and speaks into, each with its nine levels (volume.*)
VOLUMES = ("ring", "handset", "handset_mic", "speaker", "speaker_mic", "headset",
           "headset_mic")


def incoming_policy(st: Settings, now: IncomingPolicy) -> IncomingPolicy:
    """What the SIP thread answers to a new INVITE, without asking us. From the policy in
    use `now`, what the settings do not give is carried over: its trust (kept by
    firmware/sip/trust.py: DNS lookups) and its bans (the ban list's entries,
    firmware/banlist.py, laid on by firmware/features/banlist.py)."""
    p, fw = st.phone, st.forward
    server = st.account[p.default_account].server if st.account[p.default_account].enable \
        else ""
    return IncomingPolicy(
        dnd=p.dnd_code if p.dnd else 0, dnd_code=p.dnd_code,
        dnd_accounts=frozenset(i for i in range(1, ACCOUNTS + 1) if st.account[i].dnd),
        busy_when_in_call=not p.call_waiting, max_calls=LINES,
        reject_code=p.reject_code, blacklist=p.blacklist, bans=now.bans,
        ip_allow=tuple(ipaddress.ip_network(n, strict=False) for n in p.ip_allow)
        if p.ip_strategy else (),
        anon_reject=frozenset(i for i in range(1, ACCOUNTS + 1)
                              if st.account[i].anonymous_reject),
        forward_always=target_uri(fw.always, server) or "" if fw.always else "",
        forward_busy=target_uri(fw.busy, server) or "" if fw.busy else "",
        pages=st.paging.intercom, page_barge_in=st.paging.barge_in,
        page_dnd_emergency=st.paging.dnd_emergency,
        flood_limit=st.sip.flood_limit,
        trust=now.trust)
