"""The audio bridge: tones, who hears what, volume; and the media commands.

Call audio never passes through Python: pjsip's conference bridge connects the calls, the
sound device, tone generators, recorders and the multicast ports (firmware/features/
multicast.py); `_Media.refresh` works out the connections from what is wanted.
"""
from __future__ import annotations

import concurrent.futures
import logging
from typing import TYPE_CHECKING, Callable

import pjsua2 as pj

if TYPE_CHECKING:
    from firmware.sip.engine import SipEngine

log = logging.getLogger("deskphone.sip")

# --- tones (US, notes/pjsua2.md) -----------------------------------------------------------
# name -> list of (freq1, freq2, on ms, off ms)
TONE_PLANS: dict[str, list[tuple[int, int, int, int]]] = {
    "dial": [(350, 440, 1000, 0)],
    "ringback": [(440, 480, 2000, 4000)],
    "busy": [(480, 620, 500, 500)],
    "reorder": [(480, 620, 250, 250)],
    "callwaiting": [(440, 0, 300, 9700)],
    "ring": [(1000, 0, 50, 0), (1250, 0, 50, 0)] * 10 + [(0, 0, 0, 3000)],
    # the other ring types (volume.ring_type, account.N.ring_type): cadence and pitch
    "ring2": [(800, 0, 400, 200), (800, 0, 400, 2000)],
    "ring3": [(1400, 0, 100, 50)] * 6 + [(0, 0, 0, 2500)],
    "ring4": [(660, 880, 1000, 0), (0, 0, 0, 2000)],
    "ring5": [(1200, 0, 200, 100), (900, 0, 200, 100)] * 3 + [(0, 0, 0, 2500)],
    "test": [(1000, 0, 1000, 0)],      # diagnose: sound
    "message": [(1000, 0, 50, 0), (1250, 0, 50, 0)] * 8 + [(0, 0, 0, 30000)],  # new voice mail
    "warning": [(1400, 0, 100, 100)],  # a page is about to be heard (firmware/features/paging.py)
}


# --- the audio bridge: who hears what -----------------------------------------------------

class _Media:
    """Connections in pjsip's conference bridge; call audio never passes through Python.

    sinks: what the person hears (the sound device; on the sim board also a recorder
    while a test listens). sources: the microphone (on the sim board a tone generator
    can stand in for a voice).
    """

    def __init__(self, engine: SipEngine, *, clock_when_needed: bool = False):
        self.engine = engine
        adm = engine.ep.audDevManager()
        # The null sound device ticks the bridge every 20 ms even when nothing is
        # connected (0.3 % CPU idle). A real device closes itself when idle
        # (sndAutoCloseTime); for the null one we do it: no device while nothing plays.
        self.clock_when_needed = clock_when_needed
        self.clock = not clock_when_needed    # the engine starts a null device without one
        self.sinks: list = [adm.getPlaybackDevMedia()]
        self.sources: list = [adm.getCaptureDevMedia()]
        self.tone: pj.ToneGenerator | None = None
        self.tone_name: str | None = None
        self.mic: pj.ToneGenerator | None = None
        self.call_ids: tuple[int, ...] = ()    # the call, or the calls of a conference
        self.mute = False
        self.cross = True          # the calls hear each other (3-way), not (barge-in)
        self.players: list = []    # more for the person to hear (a multicast page)
        self.mic_sinks: list = []  # more to hear the microphone (a multicast page we send)
        self.gain = 1.0            # volume of everything the person hears
        self.mic_gain = 1.0        # level of the microphone into the bridge
        # (source port, sink port) -> (source media, sink media)
        self.connected: dict[tuple[int, int], tuple] = {}
        self.refresh()

    def _want(self) -> dict[tuple[int, int], tuple]:
        pairs = []
        if self.tone is not None:
            pairs += [(self.tone, s) for s in self.sinks]
        pairs += [(p, s) for p in self.players for s in self.sinks]
        calls = [self.engine.calls.get(i) for i in self.call_ids]
        ports = [c.audio for c in calls if c is not None and c.audio is not None]
        mics = [] if self.mute else self.sources + ([self.mic] if self.mic is not None else [])
        pairs += [(m, s) for m in mics for s in self.mic_sinks]
        for port in ports:
            pairs += [(port, s) for s in self.sinks] + [(m, port) for m in mics]
            if self.cross:
                pairs += [(port, other) for other in ports if other is not port]   # 3-way
        return {(a.getPortId(), b.getPortId()): (a, b) for a, b in pairs}

    def refresh(self) -> None:
        want = self._want()
        for key in self.connected.keys() - want.keys():
            src, dst = self.connected[key]
            try:
                src.stopTransmit(dst)
            except pj.Error:
                pass   # the port went away with its call
        for key in want.keys() - self.connected.keys():
            src, dst = want[key]
            try:
                src.startTransmit(dst)
            except pj.Error as e:
                log.warning("audio connect %s: %s", key, e.info())
        self.connected = want
        if self.clock_when_needed:
            need = bool(want) or bool(self.engine.calls) or len(self.sinks) > 1
            if need != self.clock:
                adm = self.engine.ep.audDevManager()
                adm.setNullDev() if need else adm.setNoDev()
                self.clock = need

    @staticmethod
    def _generator(plan_spec) -> pj.ToneGenerator:
        gen = pj.ToneGenerator()
        gen.createToneGenerator(16000, 1)
        plan = pj.ToneDescVector()
        for f1, f2, on, off in plan_spec:
            d = pj.ToneDesc()
            d.freq1, d.freq2, d.on_msec, d.off_msec, d.volume = f1, f2, on, off, 0
            plan.append(d)
        gen.play(plan, True)
        return gen

    def play(self, name: str | None) -> None:
        if name == self.tone_name:
            return
        old, self.tone, self.tone_name = self.tone, None, name
        if name:
            self.tone = self._generator(TONE_PLANS[name])
        self.refresh()
        if old is not None:
            old.stop()
            self.engine._dead.append(old)

    def set_mic_tone(self, freq: int | None) -> None:
        old, self.mic = self.mic, None
        if freq:
            self.mic = self._generator([(freq, 0, 1000, 0)])
            self.mic.adjustTxLevel(self.mic_gain)
        self.refresh()
        if old is not None:
            old.stop()
            self.engine._dead.append(old)

    def set_gain(self, gain: float) -> None:
        self.gain = gain
        for sink in self.sinks:
            sink.adjustRxLevel(gain)

    def set_mic_gain(self, gain: float) -> None:
        """The microphone's level into the bridge (volume.*_mic)."""
        self.mic_gain = gain
        for source in self.sources + ([self.mic] if self.mic is not None else []):
            source.adjustTxLevel(gain)       # the sim board's tone stands in for a voice

    def add_sink(self, media) -> None:
        self.sinks.append(media)
        media.adjustRxLevel(self.gain)
        self.refresh()

    def remove_sink(self, media) -> None:
        self.sinks.remove(media)
        self.refresh()

    def close(self) -> None:
        for gen in (self.tone, self.mic):
            if gen is not None:
                gen.stop()
        self.tone = self.mic = None
        self.connected = {}
        self.sinks, self.sources = [], []



class MediaCommands:
    """SipEngine's media commands (a mixin: the engine holds the state they use)."""

    def audio(self, call_ids: tuple[int, ...], mute: bool, cross: bool = True):
        """Which calls the microphone and earpiece belong to (two: a 3-way conference,
        mixed in pjsip's bridge; cross=False: a page barged in, the far ends hear only
        us)."""
        return self.submit(self._audio, tuple(call_ids), mute, cross)

    def _audio(self, call_ids: tuple[int, ...], mute: bool, cross: bool) -> None:
        self.media.call_ids, self.media.mute, self.media.cross = call_ids, mute, cross
        self.media.refresh()

    def tone(self, name: str | None):
        return self.submit(lambda: self.media.play(name))

    def attach_port(self, name: str, make: Callable[[], pj.AudioMedia], *, hear: bool,
                    ready: Callable[[pj.AudioMedia], None] | None = None
                    ) -> concurrent.futures.Future:
        """Our own port `name` in the bridge (firmware/features/multicast.py): hear=True the
        person hears it, False it hears the microphone. `make` builds it on this thread
        unless it is still there from an earlier use; `ready(port)` readies it on this thread
        for this use.

        A port made in Python must not die while pjsip's media clock runs. The clock thread
        calls every port in the bridge each 20 ms (heartbeat frames, even with nothing
        connected) until the port's C++ destructor stops it, and the Python object dies
        first: a call in that window runs on a half-freed object. The phone crashed so at the
        end of a page (SIGSEGV in CI); a bare pjsua2 script that released a port 3000 times
        while the clock ran crashed 2 runs in 6. So a detached port stays until the clock is
        stopped (`_release_idle_ports`, after each loop turn), and _destroy stops the clock
        before it lets the rest go."""
        return self.submit(self._attach_port, name, make, hear, ready)

    def _attach_port(self, name: str, make, hear: bool, ready) -> None:
        port = self._own_ports.get(name)
        if port is None:
            port = self._own_ports[name] = make()
        if ready is not None:
            ready(port)
        ports = self.media.players if hear else self.media.mic_sinks
        if port not in ports:
            ports.append(port)
        self.media.refresh()

    def detach_port(self, name: str, done: Callable[[pj.AudioMedia | None], None] | None = None
                    ) -> concurrent.futures.Future:
        """Disconnect port `name`; then `done(port)` on this thread (None: there was no such
        port, e.g. its make() failed)."""
        return self.submit(self._detach_port, name, done)

    def _detach_port(self, name: str, done) -> None:
        port = self._own_ports.get(name)
        if port is not None:
            for ports in (self.media.players, self.media.mic_sinks):
                if port in ports:
                    ports.remove(port)
            self.media.refresh()
        if done is not None:
            done(port)

    def _release_idle_ports(self) -> None:
        """Let our detached ports go once no media clock can call them: the null device
        switched off (_Media.refresh) or the sound device closed by pjsua when idle
        (sndAutoCloseTime). While a call or a tone keeps the clock going they are kept,
        called each tick."""
        media = self.media
        if media is None or media.clock and media.clock_when_needed:
            return
        # a sound device: pjsua's only clock then is its snd_port (sndIsActive), as the
        # engine never calls setNullDev in this case (a null device would tick unseen)
        if not media.clock_when_needed and self.ep.audDevManager().sndIsActive():
            return
        attached = media.players + media.mic_sinks
        for name, port in list(self._own_ports.items()):
            if port not in attached:
                del self._own_ports[name]

    def volume(self, gain: float):
        return self.submit(lambda: self.media.set_gain(gain))

    def mic_volume(self, gain: float):
        return self.submit(lambda: self.media.set_mic_gain(gain))

    # -- the simulated board's microphone and ear ---------------------------------------------

    def sim_mic(self, freq: int | None):
        """A steady tone stands in for a voice on the microphone (sim board, tests)."""
        return self.submit(lambda: self.media.set_mic_tone(freq))

    def record_start(self, path: str):
        """Record what the person hears into a WAV file; the future gives a handle."""
        return self.submit(self._record_start, path)

    def _record_start(self, path: str) -> int:
        rec = pj.AudioMediaRecorder()
        rec.createRecorder(path)
        self._recorders[id(rec)] = rec
        self.media.add_sink(rec)
        return id(rec)

    def record_stop(self, handle: int):
        return self.submit(self._record_stop, handle)

    def _record_stop(self, handle: int) -> None:
        rec = self._recorders.pop(handle, None)
        if rec is not None:
            self.media.remove_sink(rec)
            del rec   # closes the file; readers fix the header sizes (see ui.web)
