"""What a dialled number becomes: the dial plan for its line, the URI it is called at,
and the line an emergency call goes out on. Pure functions of the settings and state."""
from __future__ import annotations

import ipaddress
import re

from firmware.call.dialplan import Dialler, DigitMap
from firmware.call.state import LineStatus, PhoneState
from firmware.settings import ACCOUNTS, Settings
from firmware.sip.text import host_of

_IP_STAR = re.compile(r"^\d{1,3}(\*\d{1,3}){3}(\*\d{1,5})?$")   # 192*168*0*10[*5060]


def target_uri(number: str, server: str) -> str | None:
    """What to put in the INVITE for what was dialled; None if it cannot be reached.

    sip:/sips: URIs go as they are; an IP address (dots, or * for dots from the keypad,
    optional port) is a direct peer-to-peer call; anything else goes to the line's server.
    """
    n = number.strip()
    if n.lower().startswith(("sip:", "sips:")):
        return n
    if _IP_STAR.match(n):
        parts = n.split("*")
        host = ".".join(parts[:4])
        return f"sip:{host}:{parts[4]}" if len(parts) == 5 else f"sip:{host}"
    host = n.partition(":")[0] if n.count(":") <= 1 else n
    try:
        ipaddress.ip_address(host.strip("[]"))
        return f"sip:{n}"
    except ValueError:
        pass
    if "@" in n:
        return f"sip:{n}"
    if not server:
        return None
    return f"sip:{n}@{host_of(server)}"


def diallers(settings: Settings) -> tuple[Dialler, Dialler]:
    """The dial plan for a line with a server, and for one without (it dials addresses,
    192*168*1*20: not "impossible")."""
    p, dp = settings.phone, settings.dialplan
    dm = DigitMap.parse(dp.digit_map) if dp.digit_map else None
    return (Dialler(dm, dp.rules, p.emergency, p.send_key),
            Dialler(dm, dp.rules, p.emergency, p.send_key, ip_dialling=True))


def dialler_for(settings: Settings, account: int, with_server: Dialler,
                p2p: Dialler) -> Dialler:
    acc = settings.account.get(account) if account else None
    return with_server if acc is not None and acc.enable and acc.server else p2p


def emergency_account(state: PhoneState, account: int) -> int:
    """An emergency call goes out on any registered line (manual: always dials)."""
    ok = (LineStatus.REGISTERED, LineStatus.DND)
    if account and state.accounts[account - 1].status in ok:
        return account
    for a in state.accounts:
        if a.status in ok:
            return a.index
    return account


def target_for(settings: Settings, state: PhoneState, account: int,
               number: str) -> str | None:
    """The URI `number` is called at on `account` (its server, or the secondary one
    while the line is registered there)."""
    acc = settings.account.get(account) if account else None
    server = acc.server if acc is not None and acc.enable else ""
    if acc is not None and acc.enable and state.accounts[account - 1].on_secondary:
        server = acc.secondary_server
    return target_uri(number, server)


def account_for_line(s: Settings, line: int) -> int:
    """The account a new call on `line` uses: the line's own, else the default one, else
    any that is set up (0: none, a direct IP call)."""
    if line <= ACCOUNTS and s.account[line].enable and s.account[line].user:
        return line
    d = s.phone.default_account
    if s.account[d].enable and s.account[d].user:
        return d
    for i in range(1, ACCOUNTS + 1):
        if s.account[i].enable and s.account[i].user:
            return i
    return 0
