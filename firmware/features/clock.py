"""The phone's clock from an SNTP server (RFC 4330; manual §6 "Time & date", §7 "Set Time":
Set Time Mode SNTP, SNTP Server, Update Interval).

While time.mode is "sntp" the phone asks time.sntp_server at start, whenever a time.*
setting changes, and then every time.update_interval seconds (a Timers timer: nothing
polls). The answer moves the time shown, not the OS clock: its offset from the OS clock
becomes PhoneState.clock_shift (present.local_time adds it). An answer counts only when
it is a server's (mode 4), from a synchronised server (stratum 1-15, leap indicator not
"alarm"), and carries as its originate timestamp the transmit timestamp we sent (random
low bits): a forged or stale packet is ignored, and the query waits on for the real one.

A failure (no answer within TIMEOUT, an unknown host, a refused port) keeps the last
good offset, is shown under View status > Software ("Time ..."), logged at most once per
LOG_EVERY seconds while it stays the same, and asked again within RETRY seconds. The
query's socket is a connected UDP socket on an ephemeral port, open only while asking:
the phone listens on nothing for it.

While time.mode is "sip" (manual: "SIP server") the time shown is the registrar's: the
Date header of each 2xx answer to our REGISTER (RFC 3261 §20.17; the SIP thread carries it
on RegistrationChanged with the moment it arrived), of any line, the latest counting. Its
offset from the OS clock becomes the shift as SNTP's does; the last good one is kept (a
switch to "sip" shows it at once). An answer without a Date, or with one that is no date,
changes nothing; it is logged once (again only after a good one) and shown in the status.

In time.mode "system" or "manual" this module does nothing but say so in the status;
config.show (firmware/call/config.py) sets the shift from the settings then.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import time

from firmware import timeofday
from firmware.events import Event, RegistrationChanged, SettingsChanged, TimerFired
from firmware.sip.text import split_host_port

log = logging.getLogger("deskphone.clock")

TIMER = "clock.sntp"
TIMEOUT = 5.0            # seconds a server has to answer (the name lookup included)
RETRY = 60.0             # seconds before a failed query is tried again (at most)
LOG_EVERY = 3600.0       # the same failure is logged once per this many seconds
NTP_PORT = 123
NTP_EPOCH = 2208988800   # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)


class TimeAnswered(Event):
    """A query ended (posted by the query's task): the offset, or why there is none."""
    generation: int
    offset: float | None
    error: str = ""


def setup(ctx) -> "Clock":
    return Clock(bus=ctx.bus, timers=ctx.timers, state=ctx.state, settings=ctx.settings)


class Clock:
    def __init__(self, *, bus, timers, state, settings):
        self.bus, self.timers, self.state, self.settings = bus, timers, state, settings
        self.offset: float | None = None      # the last good SNTP offset (seconds)
        self.generation = 0                   # queries of older settings are ignored
        self.task: asyncio.Task | None = None
        self._logged: tuple[str, float] = ("", 0.0)   # last failure logged, when (mono)
        self.sip_offset: float | None = None  # the registrar's Date minus our clock (s)
        self.sip_server = ""                  # the registrar it came from
        self._sip_logged = False              # a bad Date was logged (once, until a good one)
        bus.on(TimerFired, self.on_timer)
        bus.on(RegistrationChanged, self.on_registration)
        bus.on(SettingsChanged, self.on_settings)
        bus.on(TimeAnswered, self.on_answer)
        self.restart()

    # -- when to ask -----------------------------------------------------------------------

    def restart(self) -> None:
        """Settings (re)read: ask now in sntp mode; else only say where the time comes from."""
        self.generation += 1
        self._stop()
        t = self.settings.time
        if t.mode == "sip":
            self._show_sip()
            return
        if t.mode != "sntp":
            self.state.time_status = "set by hand" if t.mode == "manual" else "OS clock"
            return
        self.state.clock_shift = self.offset or 0.0     # until the server answers
        self.state.time_status = f"SNTP {t.sntp_server}: asking"
        self.ask()

    def on_settings(self, ev: SettingsChanged) -> None:
        if any(k.startswith("time.") for k in ev.keys):
            self.restart()

    def on_timer(self, ev: TimerFired) -> None:
        if ev.name == TIMER and self.settings.time.mode == "sntp":
            self.ask()

    def ask(self) -> None:
        server = self.settings.time.sntp_server
        if self.task is not None and not self.task.done():
            return                                       # one query at a time
        try:
            host, port = _split(server)
            self.task = self.bus.loop.create_task(self._query(self.generation, host, port))
        except Exception as e:  # noqa: BLE001 - a failure to ask is a failure, not a crash
            self._failed(f"cannot ask: {e}")

    async def _query(self, generation: int, host: str, port: int) -> None:
        try:
            offset = await asyncio.wait_for(query(host, port), TIMEOUT)
        except asyncio.TimeoutError:
            self.bus.post(TimeAnswered(generation, None, f"no answer in {TIMEOUT:g} s"))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure is shown, never raised
            self.bus.post(TimeAnswered(generation, None, _reason(e)))
        else:
            self.bus.post(TimeAnswered(generation, offset))

    # -- the SIP server's time (time.mode "sip") ---------------------------------------------

    def on_registration(self, ev: RegistrationChanged) -> None:
        """A 2xx to our REGISTER: its Date is the server's clock when it arrived."""
        if not 200 <= ev.code < 300:
            return
        try:                                  # a Date names a whole second: its middle
            offset = timeofday.sip_date(ev.date) + 0.5 - ev.received
        except ValueError as e:
            if self.settings.time.mode != "sip":
                return                        # not asked for: a server without Date is fine
            self.state.time_status = f"SIP server {ev.server}: {e}" + (
                "" if self.sip_offset is None else " (last time kept)")
            if not self._sip_logged:
                log.warning("SIP server %s: %s; the time shown stays as it is", ev.server, e)
                self._sip_logged = True
            return
        first = self.sip_offset is None
        self.sip_offset, self.sip_server, self._sip_logged = offset, ev.server, False
        if self.settings.time.mode == "sip":
            (log.info if first else log.debug)("SIP server %s: Date %r, offset %+.1f s",
                                               ev.server, ev.date, offset)
            self._show_sip()

    def _show_sip(self) -> None:
        if self.sip_offset is None:
            self.state.clock_shift = 0.0
            self.state.time_status = "SIP server: waiting for a REGISTER answer with a Date"
            return
        self.state.clock_shift = self.sip_offset
        self.state.time_status = f"SIP server {self.sip_server} ok, {self.sip_offset:+.1f} s"

    # -- what came back --------------------------------------------------------------------

    def on_answer(self, ev: TimeAnswered) -> None:
        if ev.generation != self.generation or self.settings.time.mode != "sntp":
            return                                       # the settings changed meanwhile
        server = self.settings.time.sntp_server
        if ev.offset is None:
            self._failed(ev.error)
            return
        first = self.offset is None
        self.offset = ev.offset
        self.state.clock_shift = ev.offset
        self.state.time_status = f"SNTP {server} ok, {ev.offset:+.1f} s"
        self._logged = ("", 0.0)
        (log.info if first else log.debug)("SNTP %s: offset %+.3f s", server, ev.offset)
        self.timers.start(TIMER, self.settings.time.update_interval)

    def _failed(self, reason: str) -> None:
        server = self.settings.time.sntp_server
        kept = "" if self.offset is None else " (last time kept)"
        self.state.time_status = f"SNTP {server}: {reason}{kept}"
        now = time.monotonic()
        if reason != self._logged[0] or now - self._logged[1] >= LOG_EVERY:
            log.warning("SNTP %s: %s%s", server, reason, kept)
            self._logged = (reason, now)
        self.timers.start(TIMER, min(RETRY, self.settings.time.update_interval))

    def _stop(self) -> None:
        self.timers.cancel(TIMER)
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def close(self) -> None:
        self._stop()


# -- the exchange (RFC 4330) -----------------------------------------------------------------

def _split(server: str) -> tuple[str, int]:
    """"host", "host:port", "[v6]:port" (time.sntp_server, checked by the schema)."""
    if not server:
        raise ValueError("no SNTP server set")
    host, port = split_host_port(server)
    return host, int(port) if port else NTP_PORT


def ntp_time(t: float) -> bytes:
    """A Unix time as a 64-bit NTP timestamp."""
    t += NTP_EPOCH
    return struct.pack("!II", int(t), int((t % 1) * 2**32) & 0xFFFFFFFF)


def unix_time(stamp: bytes) -> float:
    sec, frac = struct.unpack("!II", stamp)
    return sec - NTP_EPOCH + frac / 2**32


def request() -> tuple[bytes, bytes]:
    """A client request (LI 0, version 4, mode 3) and the transmit timestamp it carries:
    the time now with random low bits, so an answer must echo what only we sent."""
    stamp = ntp_time(time.time())[:6] + os.urandom(2)
    return b"\x23" + bytes(39) + stamp, stamp


def check(packet: bytes, sent: bytes) -> str:
    """Why an answer does not count ("" when it does)."""
    if len(packet) < 48:
        return "short packet"
    if packet[0] & 7 != 4:
        return f"mode {packet[0] & 7}, not a server's answer"
    if packet[24:32] != sent:
        return "originate timestamp is not ours"
    if packet[0] >> 6 == 3:
        return "server not synchronised (alarm)"
    if not 1 <= packet[1] <= 15:
        code = packet[12:16].decode("ascii", "replace") if packet[1] == 0 else ""
        return f"server refused (kiss code {code})" if code else f"stratum {packet[1]}"
    if packet[40:48] == bytes(8):
        return "no transmit timestamp"
    return ""


def offset(packet: bytes, t1: float, t4: float) -> float:
    """The server's clock minus ours (RFC 4330 §5): ((T2 - T1) + (T3 - T4)) / 2."""
    t2, t3 = unix_time(packet[32:40]), unix_time(packet[40:48])
    return ((t2 - t1) + (t3 - t4)) / 2


class _Exchange(asyncio.DatagramProtocol):
    """One query's socket: answers that do not count are logged and ignored."""

    def __init__(self, sent: bytes, answer: asyncio.Future):
        self.sent, self.answer, self.t1 = sent, answer, 0.0

    def datagram_received(self, data: bytes, addr) -> None:
        t4 = time.time()
        why = check(data, self.sent)
        if why:
            log.debug("SNTP answer from %s ignored: %s", addr, why)
        elif not self.answer.done():
            self.answer.set_result(offset(data, self.t1, t4))

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


async def query(host: str, port: int) -> float:
    """Ask host:port once; the offset of its clock from ours, in seconds."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)  # a thread, not the loop
    family, _, _, _, addr = infos[0]
    payload, sent = request()
    answer = loop.create_future()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: _Exchange(sent, answer), remote_addr=addr[:2], family=family)
    try:
        proto.t1 = time.time()
        transport.sendto(payload)
        return await answer
    finally:
        transport.close()


def _reason(e: Exception) -> str:
    """A failure in a person's words."""
    if isinstance(e, socket.gaierror):
        return "unknown host"
    if isinstance(e, ConnectionRefusedError):
        return "port closed (nothing answers there)"
    return str(e) or type(e).__name__
