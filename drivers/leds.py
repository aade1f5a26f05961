"""LED drivers. SimLeds keeps the patterns for the front panel to draw; LedBank lights real
LEDs through one bank of on/off outputs: GPIO pins, a 74HC595 chain or an MCP23017.

An output backend is anything with ``write(mask)`` (bit n set = output n on) and
``close()``. LedBank knows LEDs and patterns, the backend knows pins and buses; tests drive
the real classes on gpiozero's MockFactory pins or a fake SMBus.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Mapping, Protocol

log = logging.getLogger(__name__)

COLOURS = ("", "red", "green", "amber")
PATTERNS = ("off", "on", "slow", "fast")

# The blink clock is read this far ahead (by the thread and by set() alike), so a wait
# that ends a hair before an edge still switches the LEDs instead of waking twice.
_EARLY = 0.0005


class SimLeds:
    def __init__(self) -> None:
        self.patterns: dict[str, tuple[str, str]] = {}

    def set(self, name: str, colour: str, pattern: str) -> None:
        self.patterns[name] = (colour, pattern)

    def close(self) -> None:
        self.patterns.clear()


class Outputs(Protocol):
    def write(self, mask: int) -> None: ...

    def close(self) -> None: ...


class LedBank:
    """LEDs on a bank of outputs: ``leds`` maps an LED name to an output number, or a
    dual-colour LED to ``{"red": n, "green": m}`` (amber lights both; colour "" lights
    neither). A single-colour LED lights for any colour, "" included: the pattern decides.

    One blink clock for the whole bank, so LEDs flashing at one rate are in phase and a
    slow edge is also a fast edge (4 Hz is a multiple of 1 Hz): an LED flashing at f Hz is
    lit while ``floor((t - origin) * 2f)`` is even, t being time.monotonic() and origin the
    moment the bank was made. One thread sleeps until the next edge while something
    flashes, and on an Event with no timeout while nothing does: steady LEDs cost no
    wake-ups. ``set`` switches steady LEDs itself; the outputs get one ``write(mask)``
    whenever the whole mask changes, never per LED.
    """

    def __init__(self, *, outputs: Outputs, leds: Mapping[str, int | Mapping[str, int]],
                 slow_hz: float = 1.0, fast_hz: float = 4.0) -> None:
        if slow_hz <= 0 or fast_hz <= 0:
            raise ValueError("flash rates must be above 0 Hz")
        self.outputs = outputs
        self.rates = {"slow": float(slow_hz), "fast": float(fast_hz)}
        self._map: dict[str, dict[str, int]] = {}
        for name, out in leds.items():
            colours = dict(out) if isinstance(out, Mapping) else {"": out}
            for colour, n in colours.items():
                if colour not in ("", "red", "green"):
                    raise ValueError(f"LED {name}: colour {colour!r}, use red and green")
                if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    raise ValueError(f"LED {name}: output {n!r} is not a number >= 0")
            self._map[name] = colours
        self.patterns: dict[str, tuple[str, str]] = {}
        self._lit: dict[str, tuple[int, float | None]] = {}   # name -> (bits, hz or steady)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._failed = 0
        # What the blink thread does, for tests: times it woke up; whether it sleeps, and
        # the timeout of that sleep (None: until set() changes the flashing).
        self.wakeups = 0
        self.asleep = False
        self.timeout: float | None = None
        self.origin = time.monotonic()
        self.mask = 0
        try:
            self.outputs.write(0)        # a 74HC595 powers up with random outputs
        except BaseException:
            self.outputs.close()
            raise
        self._thread = threading.Thread(target=self._run, name="leds", daemon=True)
        self._thread.start()

    # -- what the phone calls ------------------------------------------------------------

    def set(self, name: str, colour: str, pattern: str) -> None:
        if colour not in COLOURS:
            raise ValueError(f"LED colour {colour!r}: use one of red, green, amber or ''")
        if pattern not in PATTERNS:
            raise ValueError(f"LED pattern {pattern!r}: use one of {', '.join(PATTERNS)}")
        with self._lock:
            if self._closed:
                return
            self.patterns[name] = (colour, pattern)
            before = self._flash_rates()
            bits = self._bits(name, colour)
            if bits and pattern != "off":
                self._lit[name] = (bits, self.rates.get(pattern))
            else:
                self._lit.pop(name, None)
            self._output(self.mask_at(time.monotonic() + _EARLY))
            if self._flash_rates() != before:
                self._wake.set()         # the next edge moved: the thread sleeps anew

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.patterns.clear()
            self._lit.clear()
            self._output(0)
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self.outputs.close()

    def __enter__(self) -> LedBank:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the blink clock -----------------------------------------------------------------

    def lit(self, hz: float | None, t: float) -> bool:
        """Whether an LED flashing at hz (None = steady) is lit at monotonic time t."""
        return hz is None or math.floor((t - self.origin) * 2 * hz) % 2 == 0

    def mask_at(self, t: float) -> int:
        mask = 0
        for bits, hz in self._lit.values():
            if self.lit(hz, t):
                mask |= bits
        return mask

    def next_edge(self, t: float) -> float | None:
        """The first moment after t when a flashing LED turns on or off; None if none
        flashes."""
        edges = [self.origin + (math.floor((t - self.origin) * 2 * hz) + 1) / (2 * hz)
                 for hz in self._flash_rates()]
        return min(edges) if edges else None

    # -- inside --------------------------------------------------------------------------

    def _flash_rates(self) -> frozenset[float]:
        return frozenset(hz for _, hz in self._lit.values() if hz is not None)

    def _bits(self, name: str, colour: str) -> int:
        outs = self._map.get(name)
        if not outs:
            return 0
        if "" in outs:                   # one colour: lit for any colour, even ""
            wanted = [outs[""]]
        elif not colour:
            return 0
        else:
            wanted = [outs.get(c) for c in (("red", "green") if colour == "amber"
                                             else (colour,))]
        bits = 0
        for n in wanted:
            if n is not None:
                bits |= 1 << n
        return bits

    def _output(self, mask: int) -> None:
        """Write the mask if it changed (lock held). A failed write is retried with the
        next change; the first failure is a warning, repeats are debug."""
        if mask == self.mask:
            return
        try:
            self.outputs.write(mask)
        except OSError as e:
            self._failed += 1
            (log.warning if self._failed == 1 else log.debug)("LED outputs: %s", e)
            return
        self.mask = mask

    def _run(self) -> None:
        while True:
            self._wake.clear()
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic() + _EARLY
                self._output(self.mask_at(now))
                edge = self.next_edge(now)
                self.timeout = None if edge is None else max(0.0, edge - time.monotonic())
                self.asleep = True
            self._wake.wait(self.timeout)
            self.asleep = False
            self.wakeups += 1


class GpioOutputs:
    """One GPIO pin per LED, active high (the pin drives the LED through its resistor).
    Output n is BCM pin n: the board's LED map holds pin numbers."""

    def __init__(self, *, pins: list[int], pin_factory=None) -> None:
        from gpiozero import DigitalOutputDevice
        self._devices: dict[int, Any] = {}
        try:
            for pin in pins:
                self._devices[pin] = DigitalOutputDevice(pin, initial_value=False,
                                                         pin_factory=pin_factory)
        except BaseException:
            self.close()
            raise
        self._mask = 0

    def write(self, mask: int) -> None:
        changed = mask ^ self._mask
        for pin, dev in self._devices.items():
            if changed >> pin & 1:
                dev.value = mask >> pin & 1
        self._mask = mask

    def close(self) -> None:
        for dev in self._devices.values():
            dev.close()
        self._devices.clear()


class Hc595:
    """A chain of 74HC595 shift registers on three pins: data to SER of the first chip
    (the one nearest the Pi, whose QH' feeds the next chip's SER), clock to every SRCLK,
    latch to every RCLK; /OE tied low, /SRCLR tied high.

    Output n is Q(n mod 8) of chip n // 8, chip 0 being the first: output 0 = QA of the
    first chip, output 8 = QA of the second. A write shifts 8 x chain bits MSB first,
    the last chip's byte first (output 8*chain-1 first, output 0 last): the first bit in
    travels furthest. Each bit is set on data while clock is low and shifted on the rising
    clock edge; a latch pulse then copies the shift register to the outputs at once, so
    the LEDs never show the bits passing by.
    """

    def __init__(self, *, data: int, clock: int, latch: int, chain: int = 1,
                 pin_factory=None) -> None:
        from gpiozero import DigitalOutputDevice
        if chain < 1:
            raise ValueError("a 74HC595 chain has at least one chip")
        self.bits = 8 * chain
        self._devices: list[Any] = []
        try:
            for pin in (data, clock, latch):
                self._devices.append(DigitalOutputDevice(pin, initial_value=False,
                                                         pin_factory=pin_factory))
        except BaseException:
            self.close()
            raise
        self._data, self._clock, self._latch = self._devices
        self._data_level = 0

    def write(self, mask: int) -> None:
        data, clock = self._data, self._clock
        for n in range(self.bits - 1, -1, -1):
            bit = mask >> n & 1
            if bit != self._data_level:
                data.value = self._data_level = bit
            clock.on()
            clock.off()
        self._latch.on()
        self._latch.off()

    def close(self) -> None:
        for dev in self._devices:
            dev.close()
        self._devices.clear()


class Mcp23017:
    """An MCP23017 I2C port expander, all 16 pins outputs: output 0-7 = GPA0-7, 8-15 =
    GPB0-7 (IOCON.BANK = 0, the power-on register map).

    Start: OLATA/OLATB = 0 first, then IODIRA/IODIRB = 0 (outputs): the expander keeps its
    latches across a firmware restart, so the old LEDs go off before the pins drive.
    After that only a changed latch is written: one byte write, or OLATA and OLATB in one
    block write (the address pointer steps from 0x14 to 0x15) when both changed.
    """

    IODIRA, OLATA, OLATB = 0x00, 0x14, 0x15

    def __init__(self, *, port: int = 1, address: int = 0x20, bus=None) -> None:
        self.address = address
        self._own = bus is None
        if bus is None:
            import smbus2
            bus = smbus2.SMBus(port)
        self._bus = bus
        try:
            bus.write_i2c_block_data(address, self.OLATA, [0, 0])
            bus.write_i2c_block_data(address, self.IODIRA, [0, 0])
        except OSError as e:
            self.close()
            raise OSError(e.errno, f"no MCP23017 LED expander answers at 0x{address:02X} on "
                                   f"I2C bus {port} ({e.strerror or e}): check the wiring "
                                   f"and the address pins (i2cdetect -y {port})") from e
        self._latch = [0, 0]

    def write(self, mask: int) -> None:
        a, b = mask & 0xFF, mask >> 8 & 0xFF
        if a != self._latch[0] and b != self._latch[1]:
            self._bus.write_i2c_block_data(self.address, self.OLATA, [a, b])
        elif a != self._latch[0]:
            self._bus.write_byte_data(self.address, self.OLATA, a)
        elif b != self._latch[1]:
            self._bus.write_byte_data(self.address, self.OLATB, b)
        self._latch = [a, b]

    def close(self) -> None:
        if self._own and self._bus is not None:
            self._bus.close()
        self._bus = None
