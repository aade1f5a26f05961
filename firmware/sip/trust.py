"""Who may ring, answer and notify us (README "Security").

Anyone who can send the phone a UDP packet can send it SIP, and scanners try every SIP port
on a network many times a day. So what matters is given only to sources we trust:

- a call that asks to be answered by itself (intercom, paging: firmware/features/paging.py) is
  honoured from the lines' servers and paging.intercom_allow; from anyone else it rings;
- unsolicited NOTIFYs: message waiting from the lines' servers (and sip.trusted), check-sync
  (it can reboot the phone) from the lines' servers only;
- with sip.trusted_only in force (auto: whenever a line has a server) every request outside
  a dialog is taken only from the lines' servers, sip.trusted and paging.intercom_allow;
  the SIP thread answers the rest 403 before anything rings.

The lines' servers are the registrar, secondary registrar and outbound proxy of every
enabled line. Settings may name them by host name: names are resolved by the event loop's
resolver thread (never on the loop or the SIP thread), resolved again when settings change
and every RESOLVE_SECONDS (RETRY_SECONDS after a failure), and a name keeps its last good
addresses while its resolution fails. The SIP thread reads only a frozen `Trust`: a few
addresses and networks, no DNS on its path.
"""
from __future__ import annotations

import functools
import ipaddress
import logging
import socket

from firmware.events import SettingsChanged
from firmware.record import Record, remembered, replace
from firmware.settings import ACCOUNTS
from firmware.sip.text import host_only

log = logging.getLogger("deskphone.trust")
# asyncio is imported where ServerTrust uses it: Trust is on the path to the first REGISTER
# (firmware/startup.py), asyncio is not

RESOLVE_SECONDS = 300      # names are looked up again this often (DNS changes, failover)
RETRY_SECONDS = 30         # ... and this soon after a lookup failed
LOOKUP_TIMEOUT = 10        # one lookup may take this long; then the last addresses stay

_Addr = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=256)
def address(ip: str) -> _Addr | None:
    """A source address as pjsip reports it ("10.0.0.5", "::1", "fe80::1%eth0",
    "::ffff:10.0.0.5") as one comparable value; None for anything else. Remembered (the
    few addresses a phone hears from, asked several times for each INVITE)."""
    try:
        addr = ipaddress.ip_address(ip.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def networks(entries) -> tuple:
    """Settings' "10.0.0.5" / "10.0.1.0/24" entries as networks (checked on the way in)."""
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


class Trust(Record, frozen=True):
    """Which sources may do what. Pure and fast: read by the SIP thread for every request
    that starts something (a call, an unsolicited NOTIFY)."""

    servers: frozenset = frozenset()     # addresses of the lines' servers
    trusted: tuple = ()                  # sip.trusted networks: servers too
    intercom: tuple = ()                 # paging.intercom_allow networks
    only: bool = False                   # sip.trusted_only in force
    own: frozenset = frozenset()         # the phone's own address (its start-up self-check)

    def is_server(self, ip: str) -> bool:
        """One of the lines' servers (or an address the administrator trusts as one)."""
        return self._of(ip)[0]

    def may_page(self, ip: str) -> bool:
        """May a call from here be answered by itself (intercom, paging)?"""
        return self._of(ip)[1]

    def allows(self, ip: str) -> bool:
        """May a request from here start anything at all (sip.trusted_only)?"""
        return self._of(ip)[2]

    def _of(self, ip: str) -> tuple[bool, bool, bool]:
        """(is_server, may_page, allows) for a source, worked out once per Trust: asked
        several times before each 180, and addresses compare in Python (ipaddress)."""
        return remembered(self, ip, lambda: self._work_out(ip))

    def _work_out(self, ip: str) -> tuple[bool, bool, bool]:
        addr = address(ip)
        server = addr is not None and (addr in self.servers or
                                       any(addr in net for net in self.trusted))
        page = server or (addr is not None and any(addr in net for net in self.intercom))
        allows = not self.only or (addr is not None and (addr in self.own or page))
        return server, page, allows


def own_address(bind: str) -> frozenset:
    """The phone's own address (sip.bind, or localhost): its start-up self-check sends to
    its own SIP port from there (SipEngine)."""
    own = address("127.0.0.1" if bind in ("", "0.0.0.0") else bind)
    return frozenset([own]) if own is not None else frozenset()


def server_hosts(settings) -> list[str]:
    """Hosts of the registrar, secondary registrar and outbound proxy of enabled lines."""
    hosts: list[str] = []
    for i in range(1, ACCOUNTS + 1):
        a = settings.account[i]
        if a.enable:
            for server in (a.server, a.secondary_server, a.outbound_proxy):
                h = host_only(server) if server else ""
                if h and h not in hosts:
                    hosts.append(h)
    return hosts


def trust_for(settings, resolved: dict[str, frozenset], own: frozenset = frozenset()) -> Trust:
    """The Trust the settings describe, with names looked up in `resolved` (a name not yet
    resolved has no addresses: nothing is trusted on a guess)."""
    servers: set = set()
    hosts = server_hosts(settings)
    for h in hosts:
        addr = address(h)
        servers.update([addr] if addr is not None else resolved.get(h, ()))
    mode = settings.sip.trusted_only
    return Trust(servers=frozenset(servers), trusted=networks(settings.sip.trusted),
                 intercom=networks(settings.paging.intercom_allow),
                 only=mode == "on" or (mode == "auto" and bool(hosts)), own=own)


class ServerTrust:
    """Keeps the SIP thread's Trust (on `sip.policy`) and the check-sync senders
    (`sip.check_sync_from`) true to the settings and to what the servers' names resolve
    to. The Phone rebuilds the policy on every settings change and carries the Trust over;
    this module then puts in the new one."""

    def __init__(self, *, bus, sip, settings):
        self.bus, self.sip, self.settings = bus, sip, settings
        self.own = own_address(sip.config.bind)
        self.resolved: dict[str, frozenset] = {}
        self._failing: set[str] = set()      # names whose lookup failed (told once)
        self._task = None           # the asyncio task that keeps the names fresh
        bus.on(SettingsChanged, self.on_settings)
        self.apply()

    def apply(self) -> Trust:
        """Give the SIP thread the Trust of the current settings and the cached names."""
        trust = trust_for(self.settings, self.resolved, self.own)
        self.sip.policy = replace(self.sip.policy, trust=trust)
        self.sip.check_sync_from = (frozenset(str(a) for a in trust.servers)
                                    if self.settings.provisioning.accept_notify else None)
        return trust

    def start(self) -> None:
        """Look the names up now and keep them fresh (on the running loop)."""
        self._restart()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def on_settings(self, ev: SettingsChanged) -> None:
        if any(k.startswith(("account.", "sip.trusted", "paging.intercom_allow",
                             "provisioning.accept_notify")) for k in ev.keys):
            self.apply()
            if self._task is not None:
                self._restart()

    def _restart(self) -> None:
        import asyncio
        self.close()
        self._task = asyncio.get_running_loop().create_task(self._keep_fresh(),
                                                            name="server addresses")

    async def _keep_fresh(self) -> None:
        import asyncio
        while True:
            ok = await self.resolve()
            await asyncio.sleep(RESOLVE_SECONDS if ok else RETRY_SECONDS)

    async def resolve(self) -> bool:
        """Look up every server name (at once, each bounded); True when all answered."""
        import asyncio
        names = [h for h in server_hosts(self.settings) if address(h) is None]
        self.resolved = {h: a for h, a in self.resolved.items() if h in names}
        if not names:
            self.apply()
            return True
        found = await asyncio.gather(*(self._lookup(h) for h in names))
        for h, addrs in zip(names, found):
            if addrs:
                if addrs != self.resolved.get(h):
                    log.info("server %s is %s", h, ", ".join(sorted(map(str, addrs))))
                self.resolved[h] = addrs
        trust = self.apply()
        log.debug("trusted servers: %s", ", ".join(sorted(map(str, trust.servers))) or "none")
        return all(found)

    async def _lookup(self, name: str) -> frozenset:
        import asyncio
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(name, None, type=socket.SOCK_DGRAM), LOOKUP_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as e:
            kept = self.resolved.get(name)
            (log.debug if name in self._failing else log.warning)(
                "server %s: cannot look it up (%s); %s", name, e or "timed out",
                f"still trusting {', '.join(sorted(map(str, kept)))}" if kept else
                "requests from it are not trusted until it resolves")
            self._failing.add(name)
            return frozenset()
        self._failing.discard(name)
        return frozenset(a for a in (address(i[4][0]) for i in infos) if a is not None)
