"""What a recording sounds like: which tones are in it (for 'who hears what' tests)."""
from __future__ import annotations

import io
import wave

import numpy as np


def samples(wav_bytes: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
    return data, rate


def level(wav_bytes: bytes) -> float:
    """RMS of the recording (full scale 32768)."""
    x, _ = samples(wav_bytes)
    return float(np.sqrt(np.mean(x ** 2))) if len(x) else 0.0


def hears(wav_bytes: bytes, freq: float, *, min_rms: float = 50.0) -> bool:
    """True when `freq` stands out clearly in the recording.

    The band freq±20 Hz must hold a large share of the energy compared with the
    median band, and the recording must not be (near) silence.
    """
    x, rate = samples(wav_bytes)
    if len(x) < rate // 10 or level(wav_bytes) < min_rms:
        return False
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    band = spec[(freqs > freq - 20) & (freqs < freq + 20)].sum()
    width = max(1, int(((freqs > freq - 20) & (freqs < freq + 20)).sum()))
    floor = np.median(spec) * width
    return band > 100 * floor and band > 0.05 * spec.sum()


def tones(wav_bytes: bytes, candidates=(350, 440, 480, 620, 1000, 1500)) -> set[int]:
    return {f for f in candidates if hears(wav_bytes, f)}


def levels(wav_bytes: bytes, window: float = 0.1) -> list[int]:
    """RMS per window, for messages."""
    x, rate = samples(wav_bytes)
    n = max(1, int(rate * window))
    return [int(np.sqrt(np.mean(x[i:i + n] ** 2))) for i in range(0, len(x) - n + 1, n)]


def tail(wav_bytes: bytes, seconds: float) -> bytes:
    """The last `seconds` of a recording, as WAV (drops audio that was still in flight)."""
    x, rate = samples(wav_bytes)
    keep = x[-int(rate * seconds):].astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(keep.tobytes())
    return buf.getvalue()
