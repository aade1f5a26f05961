"""LDAP lookups of the far end's number (manual, LDAP appendix 3.2.13 and 3.2.15: settings
ldap.incoming and ldap.dial).

While a call rings, the caller's number is looked up on the LDAP servers ([ldap], [ldap2])
and the name found is shown on the ringing screen and kept in the call log; with ldap.dial
a number we call is looked up as it goes out (the calling and talking screens, the dialled
list). The ring never waits for it: the SIP thread has answered 180 and the Phone shows
the call before this handler runs (it is subscribed after them), and the search runs in a
worker thread (firmware/directory/ldap.py blocks up to the server's timeout). The answer
comes back to the loop as a CallerLooked event; one for a call that is gone, or for a call
id that is another call's by now, is dropped (Signalling.named).

`search(typed, kind, done)` is the same worker for the LCD and the web ("ldap" in
Features.get): `done(answer)` is called on the loop with a firmware.directory.ldap.Answer.
"""
from __future__ import annotations

import importlib
import logging
import queue
import sys
import threading
from typing import Callable

from firmware.call.state import CallState
from firmware.directory import ldap
from firmware.events import CallEnded, CallIncoming, Event, SettingsChanged
from firmware.record import replace

log = logging.getLogger("deskphone.ldap")

# an outgoing call's states in which its number is looked up (not while it is typed)
LOOKED_UP = (CallState.CALLING, CallState.RINGBACK, CallState.CONNECTED, CallState.HELD)
WORKERS = 2       # a silent server holds one for its timeout; a second lookup still runs


class LdapAnswered(Event):
    """A search done in the worker, back on the loop: `done` gets the answer."""
    done: object
    answer: object


class CallerLooked(Event):
    """The lookup of a ringing call's number ended (name "" = nobody found)."""
    call: int
    number: str
    name: str
    reason: str
    token: object


def setup(ctx) -> "Ldap":
    feature = Ldap(ctx)
    ctx.provide("ldap", feature)
    return feature


class Ldap:
    def __init__(self, ctx):
        self.bus, self.settings, self.phone = ctx.bus, ctx.settings, ctx.phone
        self._jobs: queue.SimpleQueue | None = None      # the workers', from the first search
        self._asked: dict[int, object] = {}   # call id -> its lookup's token, until it ends
        ctx.bus.on(CallIncoming, self.on_incoming)
        ctx.bus.on(CallerLooked, self.on_looked)
        ctx.bus.on(LdapAnswered, lambda ev: ev.done(ev.answer))
        ctx.bus.on(CallEnded, lambda ev: self._asked.pop(ev.call.id, None))
        ctx.bus.after.append(self._dialled)
        ctx.bus.on(SettingsChanged, self._warm_up)
        self._warm_up()

    def _warm_up(self, ev: SettingsChanged | None = None) -> None:
        """Import ldap3 in a worker once a server is set, before the first call needs it:
        the import holds the GIL for ~0.1 s, which the SIP thread's 180 would wait on."""
        if ldap.servers(self.settings) and "ldap3" not in sys.modules:
            self._submit(importlib.import_module, "ldap3")

    def _servers(self) -> list:
        """Copies of the configured servers' settings: the worker reads them, not the live
        ones a save may change meanwhile."""
        return [replace(s) for s in ldap.servers(self.settings)]

    def _submit(self, fn: Callable, *args) -> None:
        """Run fn(*args) in a worker: daemon threads, so a lookup waiting on a silent server
        never holds up the phone's exit (a ThreadPoolExecutor's are joined at exit)."""
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            for n in range(WORKERS):
                threading.Thread(target=self._work, args=(self._jobs,), name=f"ldap-{n}",
                                 daemon=True).start()
        self._jobs.put((fn, args))

    @staticmethod
    def _work(jobs: queue.SimpleQueue) -> None:
        while (job := jobs.get()) is not None:
            fn, args = job
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - the jobs catch their own; a worker lives on
                log.exception("LDAP worker")

    # -- the caller's name ---------------------------------------------------------------------

    def on_incoming(self, ev: CallIncoming) -> None:
        if self.settings.ldap.incoming and self.phone.state.call(ev.call):
            self._ask(ev.call, ev.number)

    def _dialled(self) -> None:
        """After each batch: a call we placed (INVITE sent) and not yet asked about."""
        if not self.settings.ldap.dial:
            return
        for c in self.phone.state.calls:
            if c.direction == "out" and c.id not in self._asked and c.state in LOOKED_UP:
                self._ask(c.id, c.number)

    def _ask(self, call: int, number: str) -> None:
        servers = self._servers()
        if not (servers and number):
            return
        token = object()
        self._asked[call] = token
        self._submit(self._look_up, servers, call, number, token)

    def _look_up(self, servers: list, call: int, number: str, token: object) -> None:
        """In the worker: never raises (ldap.caller_name catches what the server does). A
        lookup whose call ended while it waited for a worker is not made at all."""
        if self._asked.get(call) is not token:
            return
        try:
            name, reason = ldap.caller_name(servers, number)
        except Exception as e:  # noqa: BLE001 - a bug here must not lose the event
            name, reason = "", f"LDAP lookup failed: {e!r}"
        self.bus.post_threadsafe(CallerLooked(call, number, name, reason, token))

    def on_looked(self, ev: CallerLooked) -> None:
        if self._asked.get(ev.call) is not ev.token:
            log.info("LDAP: %s for call %d came after it ended: dropped", ev.number, ev.call)
            return
        if ev.reason:
            log.warning("LDAP lookup of %s: %s", ev.number, ev.reason)
        if ev.name and self.phone.signalling.named(ev.call, ev.number, ev.name):
            log.info("LDAP: call %d from %s is %s", ev.call, ev.number, ev.name)

    # -- searches from the LCD and the web -----------------------------------------------------

    def search(self, typed: str, kind: str, done: Callable[[ldap.Answer], None],
               wanted: Callable[[], bool] = lambda: True) -> None:
        """Search in the worker; `done(answer)` on the loop (kind: "name" or "number").
        `wanted()` is asked when a worker takes the job: False (the LCD's text changed
        meanwhile) drops it unasked, so searches typed past do not queue up behind a
        silent server, each waiting out its timeout."""
        servers, sort = self._servers(), self.settings.ldap.sort

        def run() -> None:
            if not wanted():
                return
            try:
                answer = ldap.search(servers, typed, kind, sort)
            except Exception as e:  # noqa: BLE001
                answer = ldap.Answer((), f"LDAP search failed: {e!r}")
            self.bus.post_threadsafe(LdapAnswered(done, answer))
        self._submit(run)

    def close(self) -> None:
        if self._jobs is not None:
            for _ in range(WORKERS):
                self._jobs.put(None)
