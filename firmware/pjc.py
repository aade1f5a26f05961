"""pjsip C functions the pjsua2 Python API does not offer, through ctypes.

Every `pjsua_*`/`pjsip_*` function is exported from the `_pjsua2` extension module
(notes/pjsua2.md), so we call them on the same library, from the pjsua thread only.
Used for: REGISTER with `Contact: *` and `Expires: 0` (unregister every binding of an
account before the first REGISTER, LP-388 item 7), and quietening pjlib before init.

Only struct fields that have been stable across pjproject releases are touched; any
failure to find a symbol makes `available()` false and the caller goes on without it.
"""
from __future__ import annotations

import ctypes
import logging
from typing import Callable

log = logging.getLogger(__name__)

_lib: ctypes.CDLL | None = None


def _load() -> ctypes.CDLL | None:
    global _lib
    if _lib is None:
        try:
            import pjsua2
            from pjsua2 import _pjsua2  # the SWIG extension; holds all of pjproject
            _lib = ctypes.CDLL(_pjsua2.__file__)
            _lib.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p
            for name in ("pjsip_regc_create", "pjsip_regc_init", "pjsip_regc_set_credentials",
                         "pjsip_regc_unregister_all", "pjsip_regc_send", "pjsip_regc_destroy",
                         "pjsip_regc_set_route_set", "pj_log_set_level"):
                getattr(_lib, name)
            del pjsua2
        except (ImportError, OSError, AttributeError) as e:  # pragma: no cover - other builds
            log.warning("pjsip C API not reachable (%s): boot unregister disabled", e)
            _lib = False  # type: ignore[assignment]
    return _lib or None


def available() -> bool:
    return _load() is not None


def quiet() -> None:
    """No pjlib banner on stdout before our log writer is installed."""
    lib = _load()
    if lib:
        lib.pj_log_set_level(ctypes.c_int(0))


class PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]


def _s(text: str, keep: list) -> PjStr:
    b = text.encode()
    keep.append(b)
    return PjStr(b, len(b))


class _CredInfo(ctypes.Structure):
    # realm, scheme, username, data_type, data: the leading fields of pjsip_cred_info.
    # The tail (AKA extension, algorithm) differs between releases; zeroed = unused.
    _fields_ = [("realm", PjStr), ("scheme", PjStr), ("username", PjStr),
                ("data_type", ctypes.c_int), ("data", PjStr), ("_tail", ctypes.c_byte * 256)]


class _RegcCbParam(ctypes.Structure):
    # leading fields of pjsip_regc_cbparam
    _fields_ = [("regc", ctypes.c_void_p), ("token", ctypes.c_void_p),
                ("status", ctypes.c_int), ("code", ctypes.c_int), ("reason", PjStr)]


_REGC_CB = ctypes.CFUNCTYPE(None, ctypes.POINTER(_RegcCbParam))

# regc handles alive, with the callbacks and buffers they reference
_pending: dict[int, tuple] = {}


def unregister_all(*, registrar: str, aor: str, user: str, password: str, done: Callable[[int, str], None]) -> bool:
    """Send REGISTER Contact: * Expires: 0 for `aor`; `done(code, reason)` when answered.

    Must run on the pjsua thread. Returns False when it could not be sent (done is not
    called then). Authentication challenges are answered by pjsip with the credentials.
    It goes straight to the registrar, not through an outbound proxy.
    """
    lib = _load()
    if lib is None:
        return False
    keep: list = []
    regc = ctypes.c_void_p()
    sending = [True]      # a callback during pjsip_regc_send must not destroy the regc
    called = [False]

    def on_reply(p):
        called[0] = True
        try:
            code = p.contents.code
            reason = ctypes.string_at(p.contents.reason.ptr, p.contents.reason.slen).decode(
                "utf-8", "replace") if p.contents.reason.slen > 0 else ""
            # pjsip calls back once, with the final answer (after any auth retry)
            if not sending[0] and _pending.pop(p.contents.regc or 0, None) is not None:
                lib.pjsip_regc_destroy(ctypes.c_void_p(p.contents.regc))
            done(code, reason)
        except Exception:  # noqa: BLE001 - never raise into C
            log.exception("unregister callback")

    cb = _REGC_CB(on_reply)
    endpt = ctypes.c_void_p(lib.pjsua_get_pjsip_endpt())
    if lib.pjsip_regc_create(endpt, None, cb, ctypes.byref(regc)) != 0:
        return False
    srv, frm = _s(registrar, keep), _s(aor, keep)
    contact = (PjStr * 1)(_s(aor, keep))
    st = lib.pjsip_regc_init(regc, ctypes.byref(srv), ctypes.byref(frm), ctypes.byref(frm),
                             1, contact, ctypes.c_uint32(3600))  # must be non-zero
    if st == 0:
        cred = _CredInfo()
        cred.realm, cred.scheme = _s("*", keep), _s("digest", keep)
        cred.username, cred.data = _s(user, keep), _s(password, keep)
        cred.data_type = 0
        st = lib.pjsip_regc_set_credentials(regc, 1, ctypes.byref(cred))
    tdata = ctypes.c_void_p()
    if st == 0:
        st = lib.pjsip_regc_unregister_all(regc, ctypes.byref(tdata))
    if st != 0:
        lib.pjsip_regc_destroy(regc)
        log.warning("unregister-all for %s not built (pj status %d)", aor, st)
        return False
    _pending[regc.value] = (cb, keep)
    st = lib.pjsip_regc_send(regc, tdata)
    sending[0] = False
    if st != 0 or called[0]:
        # answered (or failed, e.g. no route) while still inside pjsip_regc_send
        _pending.pop(regc.value, None)
        lib.pjsip_regc_destroy(regc)
        if not called[0]:
            done(503, f"not sent: {status_text(st)}")
    return True


def status_text(status: int) -> str:
    lib = _load()
    buf = ctypes.create_string_buffer(160)
    if lib is None:
        return f"pj status {status}"
    lib.pj_strerror.restype = PjStr
    lib.pj_strerror(ctypes.c_int(status), buf, ctypes.c_size_t(len(buf)))
    return buf.value.decode("utf-8", "replace") or f"pj status {status}"


def drop_pending() -> None:
    """Forget regc handles still waiting (before libDestroy, which frees them)."""
    lib = _load()
    for regc in list(_pending):
        _pending.pop(regc, None)
        if lib:
            lib.pjsip_regc_destroy(ctypes.c_void_p(regc))
