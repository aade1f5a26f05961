"""LEDs, read like the manual's button table (§3): a line key is red, green or amber
(red + green on a dual LED), steady or flashing. The real LedBank and output classes run
on gpiozero's MockFactory pins or a fake SMBus; the pins and the bus are what we check."""
from __future__ import annotations

import statistics
import time

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

import board as boards
from drivers.leds import GpioOutputs, Hc595, LedBank, Mcp23017

# Fast rates keep the real-time tests short: 5 Hz = an edge every 100 ms, 20 Hz every 25.
SLOW, FAST = 5.0, 20.0


class LoggedPin(MockPin):
    """A MockPin that also logs (GPIO number, state) in one list per factory, so the order
    of changes across pins (data set before the clock rises) can be read back."""

    def _change_state(self, value):
        changed = super()._change_state(value)
        if changed:
            self.factory.log.append((self.info.name, value))
        return changed


def logged_factory() -> MockFactory:
    f = MockFactory(pin_class=LoggedPin)
    f.log = []
    return f


class Recorder:
    """An output backend that keeps every write with its time (the bank's seam)."""

    def __init__(self):
        self.writes: list[tuple[float, int]] = []
        self.closed = False

    def write(self, mask: int) -> None:
        self.writes.append((time.monotonic(), mask))

    def close(self) -> None:
        self.closed = True

    def masks(self) -> list[int]:
        return [m for _, m in self.writes]


class FakeSMBus:
    def __init__(self):
        self.calls: list[tuple] = []
        self.closed = False

    def write_i2c_block_data(self, address, register, data):
        self.calls.append(("block", address, register, list(data)))

    def write_byte_data(self, address, register, value):
        self.calls.append(("byte", address, register, value))

    def close(self):
        self.closed = True


def bit(mask: int, n: int) -> int:
    return mask >> n & 1


def eventually(condition, what: str, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


def parked(leds: LedBank, *, forever: bool) -> None:
    """Wait until the blink thread sleeps: with no timeout (forever) or until an edge."""
    eventually(lambda: leds.asleep and (leds.timeout is None) == forever,
               "the LED thread never went to sleep")


# -- colours on the outputs ------------------------------------------------------------------

def test_a_dual_line_key_led_shows_red_green_and_amber_on_its_two_pins():
    f = MockFactory()
    leds = LedBank(outputs=GpioOutputs(pins=[17, 22, 27], pin_factory=f),
                   leds={"line1": {"red": 17, "green": 27}, "mute": 22})
    red, green, mute = f.pin(17), f.pin(27), f.pin(22)
    try:
        leds.set("line1", "red", "on")
        assert (red.state, green.state) == (True, False)
        leds.set("line1", "green", "on")
        assert (red.state, green.state) == (False, True)
        leds.set("line1", "amber", "on")
        assert (red.state, green.state) == (True, True)
        leds.set("line1", "", "off")
        assert (red.state, green.state) == (False, False)
        leds.set("mute", "red", "on")                 # a single LED lights for any colour
        assert mute.state is True
        leds.set("mute", "green", "on")
        assert mute.state is True
        leds.set("mute", "", "off")
        assert mute.state is False
        leds.set("mute", "", "on")                    # no colour: the pattern decides
        assert mute.state is True
        leds.set("line1", "", "on")                   # a dual LED needs a colour
        assert (red.state, green.state) == (False, False)
        assert leds.patterns == {"line1": ("", "on"), "mute": ("", "on")}
        red.assert_states([False, True, False, True, False])
        assert len(red.states) == 5
    finally:
        leds.close()
    assert (red.state, green.state, mute.state) == (False, False, False)


def test_an_led_the_board_does_not_wire_is_remembered_but_lights_nothing():
    out = Recorder()
    with LedBank(outputs=out, leds={"line1": 0}) as leds:
        leds.set("p7", "red", "fast")
        assert leds.patterns["p7"] == ("red", "fast")
        assert out.masks() == [0]
        assert leds.next_edge(time.monotonic()) is None


def test_bad_colours_and_patterns_are_refused():
    with LedBank(outputs=Recorder(), leds={"line1": 0}) as leds:
        with pytest.raises(ValueError, match="colour"):
            leds.set("line1", "blue", "on")
        with pytest.raises(ValueError, match="pattern"):
            leds.set("line1", "red", "blink")


# -- 74HC595 chain ---------------------------------------------------------------------------

DATA, CLOCK, LATCH = 5, 6, 13


def shifted_bits(log) -> tuple[list[int], int]:
    """The data level at each rising clock edge, and the number of latch pulses after the
    last clock edge (as a 74HC595 sees them)."""
    data, bits, latched = 0, [], 0
    for name, state in log:
        if name == f"GPIO{DATA}":
            data = int(state)
        elif name == f"GPIO{CLOCK}" and state:
            bits.append(data)
            latched = 0
        elif name == f"GPIO{LATCH}" and state:
            latched += 1
    return bits, latched


class Chain595:
    """Two 74HC595s as the datasheet describes them: SRCLK shifts SER into QA (QA->QB...,
    QH' -> next chip's SER), RCLK copies the shift register to the outputs."""

    def __init__(self, chips: int):
        self.shift = [0] * (8 * chips)     # stage k = Q(k % 8) of chip k // 8
        self.out = [0] * (8 * chips)

    def feed(self, log) -> None:
        data = 0
        for name, state in log:
            if name == f"GPIO{DATA}":
                data = int(state)
            elif name == f"GPIO{CLOCK}" and state:
                self.shift = [data] + self.shift[:-1]
            elif name == f"GPIO{LATCH}" and state:
                self.out = list(self.shift)


def test_hc595_chain_gets_the_mask_msb_first_then_one_latch_pulse():
    f = logged_factory()
    leds = LedBank(outputs=Hc595(data=DATA, clock=CLOCK, latch=LATCH, chain=2, pin_factory=f),
                   leds={"line1": {"red": 0, "green": 1}, "strip": 9})
    chips = Chain595(2)
    try:
        chips.feed(f.log)                      # the bank clears the chain at start
        assert chips.out == [0] * 16
        clock, latch, data = f.pin(CLOCK), f.pin(LATCH), f.pin(DATA)
        for pin in (clock, latch, data):
            pin.clear_states()
        f.log.clear()

        leds.set("line1", "amber", "on")                  # outputs 0 and 1
        bits, latched = shifted_bits(f.log)
        assert bits == [0] * 14 + [1, 1]                  # output 15 first, output 0 last
        assert latched == 1
        clock.assert_states([False] + [True, False] * 16)
        assert len(clock.states) == 33
        latch.assert_states([False, True, False])
        assert len(latch.states) == 3
        data.assert_states([False, True])                 # data only moves when it must
        assert len(data.states) == 2
        chips.feed(f.log)
        assert chips.out == [1, 1, 0, 0, 0, 0, 0, 0] + [0] * 8   # QA, QB of the first chip

        f.log.clear()
        leds.set("strip", "red", "on")                    # output 9 = QB of the second chip
        bits, latched = shifted_bits(f.log)
        assert bits == [0] * 6 + [1] + [0] * 7 + [1, 1]
        assert latched == 1
        chips.feed(f.log)
        assert chips.out == [1, 1, 0, 0, 0, 0, 0, 0] + [0, 1, 0, 0, 0, 0, 0, 0]

        f.log.clear()
        leds.set("strip", "red", "on")                    # nothing changed: nothing shifted
        assert f.log == []
    finally:
        leds.close()
    chips.feed(f.log)
    assert chips.out == [0] * 16                          # close switches everything off


# -- MCP23017 --------------------------------------------------------------------------------

def test_mcp23017_starts_with_latches_off_and_outputs_then_writes_only_changes():
    bus = FakeSMBus()
    leds = LedBank(outputs=Mcp23017(address=0x21, bus=bus),
                   leds={"line1": {"red": 0, "green": 8}, "mute": 3})
    try:
        assert bus.calls == [("block", 0x21, 0x14, [0, 0]),      # OLATA, OLATB = off
                             ("block", 0x21, 0x00, [0, 0])]      # IODIRA, IODIRB = outputs
        bus.calls.clear()
        leds.set("line1", "red", "on")
        assert bus.calls == [("byte", 0x21, 0x14, 0x01)]
        leds.set("line1", "green", "on")                         # GPA0 off, GPB0 on
        assert bus.calls[1:] == [("block", 0x21, 0x14, [0x00, 0x01])]
        leds.set("mute", "red", "on")
        assert bus.calls[2:] == [("byte", 0x21, 0x14, 0x08)]
        leds.set("mute", "red", "on")
        leds.set("p3", "red", "on")                              # not wired
        assert len(bus.calls) == 3
        leds.set("line1", "", "off")
        assert bus.calls[3:] == [("byte", 0x21, 0x15, 0x00)]
    finally:
        leds.close()
    assert bus.calls[4:] == [("byte", 0x21, 0x14, 0x00)]
    assert not bus.closed                                        # an injected bus is the caller's


def test_an_mcp23017_that_does_not_answer_says_where_it_was_looked_for():
    class Absent(FakeSMBus):
        def write_i2c_block_data(self, address, register, data):
            raise OSError(121, "Remote I/O error")

    with pytest.raises(OSError, match=r"0x20 on I2C bus 1.*i2cdetect -y 1"):
        Mcp23017(bus=Absent())


# -- the blink clock -------------------------------------------------------------------------

def test_slow_is_one_flash_a_second_and_fast_four():
    with LedBank(outputs=Recorder(), leds={"line1": 0, "line2": 1}) as leds:
        o = leds.origin
        slow = [leds.lit(1.0, o + t) for t in (0.0, 0.49, 0.51, 0.99, 1.01)]
        assert slow == [True, True, False, False, True]
        fast = [leds.lit(4.0, o + t) for t in (0.0, 0.12, 0.13, 0.24, 0.26, 0.5)]
        assert fast == [True, True, False, False, True, True]
        leds.set("line1", "red", "slow")
        assert leds.next_edge(o + 0.2) == pytest.approx(o + 0.5)
        leds.set("line2", "green", "fast")
        assert leds.next_edge(o + 0.2) == pytest.approx(o + 0.25)
        assert leds.mask_at(o + 0.1) == 0b11
        assert leds.mask_at(o + 0.2) == 0b01         # fast off, slow still on
        assert leds.mask_at(o + 0.7) == 0b00
        assert leds.mask_at(o + 0.76) == 0b10


def record(leds: LedBank, out: Recorder, seconds: float) -> list[tuple[float, int]]:
    start = len(out.writes)
    time.sleep(seconds)
    return out.writes[start:]


def edges(writes, n: int) -> list[float]:
    """Times at which output n changed."""
    times, last = [], None
    for t, mask in writes:
        if last is not None and bit(mask, n) != bit(last, n):
            times.append(t)
        last = mask
    return times


def test_two_line_keys_flashing_at_one_rate_flash_in_phase():
    out = Recorder()
    with LedBank(outputs=out, leds={"line1": 0, "line2": 1}, slow_hz=SLOW,
                 fast_hz=FAST) as leds:
        leds.set("line1", "red", "fast")
        time.sleep(0.037)                             # not a multiple of the period
        leds.set("line2", "red", "fast")
        writes = record(leds, out, 0.3)
    assert len(edges(writes, 0)) >= 6
    assert all(bit(m, 0) == bit(m, 1) for _, m in writes)


def test_slow_and_fast_flash_at_their_rates_and_every_slow_edge_is_a_fast_edge():
    out = Recorder()
    with LedBank(outputs=out, leds={"line1": 0, "line2": 1}, slow_hz=SLOW,
                 fast_hz=FAST) as leds:
        leds.set("line1", "green", "slow")
        leds.set("line2", "red", "fast")
        writes = record(leds, out, 0.5)
    slow, fast = edges(writes, 0), edges(writes, 1)
    assert len(slow) >= 3 and len(fast) >= 3 * len(slow)
    assert statistics.median(b - a for a, b in zip(slow, slow[1:])) == \
        pytest.approx(1 / (2 * SLOW), abs=0.015)
    assert statistics.median(b - a for a, b in zip(fast, fast[1:])) == \
        pytest.approx(1 / (2 * FAST), abs=0.008)
    # One clock: each slow edge is a fast edge where the fast LED turns on, so the write
    # that moves the slow LED shows the fast one lit (unless the thread was a whole fast
    # half-period late, on a starved machine).
    on_time = 0
    for t, mask in writes:
        if t in slow and ((t - leds.origin) * 2 * SLOW % 1) / (2 * SLOW) < 0.8 / (2 * FAST):
            on_time += 1
            assert bit(mask, 1) == 1
    assert on_time >= 1
    # the writes land just after the edges of the shared clock (as a share of 25 ms)
    late = [(t - leds.origin) * 2 * FAST % 1 for t in fast]
    assert statistics.median(late) < 0.25


def test_steady_leds_cost_no_writes_and_no_wakeups():
    out = Recorder()
    with LedBank(outputs=out, leds={"line1": {"red": 0, "green": 1}, "mute": 2},
                 slow_hz=SLOW, fast_hz=FAST) as leds:
        leds.set("line1", "red", "on")
        leds.set("mute", "red", "on")
        leds.set("mute", "red", "on")                # same again: no write
        leds.set("p1", "red", "on")                  # not wired: no write
        assert out.masks() == [0, 0b001, 0b101]
        parked(leds, forever=True)
        time.sleep(0.2)
        assert leds.wakeups == 0
        assert len(out.writes) == 3

        leds.set("line1", "green", "fast")           # now the thread ticks
        eventually(lambda: leds.wakeups >= 3, "a flashing LED did not wake the thread")
        leds.set("line1", "green", "on")             # and stops: one wake to hear it
        parked(leds, forever=True)
        settled, writes = leds.wakeups, len(out.writes)
        time.sleep(0.2)
        assert leds.wakeups == settled
        assert len(out.writes) == writes
        assert out.masks()[-1] == 0b110


def test_a_flashing_led_joining_the_same_rate_does_not_wake_the_thread():
    out = Recorder()
    with LedBank(outputs=out, leds={"line1": 0, "line2": 1}, slow_hz=0.5,
                 fast_hz=1.0) as leds:
        leds.set("line1", "red", "slow")             # next edge 1 s away
        parked(leds, forever=False)
        woke = leds.wakeups
        leds.set("line2", "red", "slow")
        time.sleep(0.05)
        assert leds.wakeups == woke


def test_close_switches_everything_off_stops_the_thread_and_releases_the_pins():
    f = MockFactory()
    outputs = GpioOutputs(pins=[17, 27], pin_factory=f)
    leds = LedBank(outputs=outputs, leds={"line1": {"red": 17, "green": 27}},
                   slow_hz=SLOW, fast_hz=FAST)
    leds.set("line1", "amber", "fast")
    time.sleep(0.05)
    thread = leds._thread
    assert thread.is_alive() and thread.name == "leds"
    leds.close()
    leds.close()                                      # twice is fine
    assert not thread.is_alive()
    assert f.pin(17).state is False and f.pin(27).state is False
    assert f.pin(17).function == "input"             # gpiozero gave the pins back
    assert leds.patterns == {}
    leds.set("line1", "red", "on")                    # after close: ignored
    assert f.pin(17).state is False


# -- the board file builds them ---------------------------------------------------------------

BOARD = """
[board]
name = "LED test board"
pins = "mock"
[keypad]
driver = "sim"
[hook]
driver = "sim"
[display]
driver = "dummy"
[audio]
driver = "sim"
"""


def test_a_board_file_with_a_74hc595_chain_builds_a_led_bank_on_those_pins(tmp_path):
    path = tmp_path / "hc595.toml"
    path.write_text(BOARD + """
[leds]
driver = "hc595"
data = 5
clock = 6
latch = 13
chain = 2
[leds.map]
line1 = { red = 0, green = 1 }
strip = 9
""")
    f = logged_factory()
    b = boards.load(str(path), pin_factory=f)
    try:
        assert isinstance(b.leds, LedBank)
        chips = Chain595(2)
        b.leds.set("strip", "red", "on")
        b.leds.set("line1", "green", "on")
        chips.feed(f.log)
        assert [i for i, q in enumerate(chips.out) if q] == [1, 9]
    finally:
        b.close()


def test_a_board_file_with_gpio_leds_uses_the_pin_numbers_as_outputs(tmp_path):
    path = tmp_path / "gpio.toml"
    path.write_text(BOARD + """
[leds]
driver = "gpio"
[leds.map]
line1 = { red = 23, green = 24 }
mute = 25
""")
    f = MockFactory()
    b = boards.load(str(path), pin_factory=f)
    try:
        b.leds.set("line1", "amber", "on")
        b.leds.set("mute", "red", "on")
        assert [f.pin(p).state for p in (23, 24, 25)] == [True, True, True]
    finally:
        b.close()
    assert [f.pin(p).state for p in (23, 24, 25)] == [False, False, False]
