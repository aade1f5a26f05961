"""The SIP gate's INVITE path in C (fastgate.c): building it and loading it.

    python -m firmware.sip.fastgate      build _fastgate.so beside fastgate.c (the Makefile)

gate.py registers fastgate.c's `fg_on_rx_request` as its pjsip module when the library
loads, and its own Python callback as the way out for everything the C side cannot let in
for sure (docs/sip-gate.md, "The INVITE path in C"). Without the library (no C compiler on
this machine, a firmware image unpacked without one) the Python gate runs alone: the same
decisions, a slower INVITE -> 180.

The library is built from the tree it sits in: by the Makefile for `make run` / `make test`,
and by the upgrade for a new slot (provisioning/slots.py), as images carry no binaries.
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("deskphone.sip.fastgate")

SOURCE = Path(__file__).with_name("fastgate.c")
LIBRARY = SOURCE.with_name("_fastgate.so")
CFLAGS = ("-O2", "-Wall", "-shared", "-fPIC")
ENV_OFF = "DESKPHONE_FASTGATE"     # "off": the Python gate alone (tests, comparisons)

_lib: ctypes.CDLL | None | bool = None


def build(src_dir: Path | None = None, *, force: bool = False) -> str | None:
    """Compile fastgate.c in `src_dir` (default: this one) into _fastgate.so, written
    whole (temp file, rename). None when built or (unless forced) already newer than its
    source; else why not, in words."""
    import shutil       # here: loading the library is on the way to the first REGISTER,
    import subprocess   # building it is not
    src = (src_dir or SOURCE.parent) / SOURCE.name
    out = src.with_name(LIBRARY.name)
    try:
        if not force and out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
            return None
    except OSError as e:
        return f"{src}: {e.strerror}"
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return "no C compiler (apt-get install gcc)"
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        done = subprocess.run([cc, *CFLAGS, "-o", str(tmp), str(src)], capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            said = done.stderr.strip()[-400:]
            return f"{cc} failed (exit {done.returncode})" + (f": {said}" if said else "")
        os.replace(tmp, out)
    except (OSError, subprocess.SubprocessError) as e:
        return f"{cc} could not run: {e}"
    finally:
        tmp.unlink(missing_ok=True)
    return None


def load() -> ctypes.CDLL | None:
    """The library with its prototypes, or None (logged once, with why)."""
    global _lib
    if _lib is None and os.environ.get(ENV_OFF) == "off":
        log.info("SIP gate in Python only (%s=off)", ENV_OFF)
        _lib = False
    if _lib is None:
        try:
            lib = ctypes.CDLL(str(LIBRARY))
        except OSError as e:
            log.info("SIP gate in Python only (%s): build it with `make` or "
                     "`python -m firmware.sip.fastgate`", e)
            _lib = False
            return None
        if LIBRARY.stat().st_mtime < SOURCE.stat().st_mtime:
            log.warning("%s is older than %s: rebuild it (`make`); the Python gate runs "
                        "alone", LIBRARY.name, SOURCE.name)
            _lib = False
            return None
        size_t, vp = ctypes.c_size_t, ctypes.c_void_p
        lib.fg_setup.argtypes = [size_t, size_t, size_t, vp]
        lib.fg_setup.restype = None
        lib.armed = ctypes.c_int.in_dll(lib, "fg_armed")
        lib.admitted = ctypes.c_uint.in_dll(lib, "fg_admitted")
        lib.fg_forget_sources.restype = None
        lib.forgets = ctypes.c_uint.in_dll(lib, "fg_forgets")
        lib.fg_add_source.argtypes = [ctypes.c_char_p, ctypes.c_uint]
        lib.fg_add_source.restype = None
        lib.fg_set_codecs.argtypes = [ctypes.c_char_p]
        lib.fg_check.argtypes = [ctypes.c_char_p, size_t]
        _lib = lib
    return _lib or None


if __name__ == "__main__":
    why = build(force=True)
    if why:
        print(f"firmware/sip/_fastgate.so not built: {why}; the phone runs the Python gate "
              f"alone", file=sys.stderr)
        sys.exit(1)
