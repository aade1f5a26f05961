"""The native seam: every use of pjsip's C API through ctypes, and its start-up self-check.

pjsua2's Python API lacks a few things a desk phone needs; every `pjsua_*`/`pjsip_*` C
function is exported from the `_pjsua2` extension module (docs/pjsua2.md), so we call them on
the same library, from the pjsua thread only:
- REGISTER `Contact: *` `Expires: 0` (unregister every binding before the first REGISTER);
- OPTIONS keep-alives outside a call (firmware/sip/registration.py);
- our pjsip modules (`register_module`, the one registration point): the tap before the
  transaction layer (start-up probe, NOTIFY check-sync, the BLF reader: `Taps`) and the
  gate after the dialog layer (firmware/sip/gate.py), with stateless answers (`respond`)
  and their extra headers (`header_list`);
- the 2.13-2.15 dialog-event subscription (`pjsua_buddy_subscribe_dlg_event`, pjblf.py).

Every struct read or written is declared here and checked at start (`checks`, logged by
`report`): the rx_data packet, its length and source by a probe the SIP thread sends to its
own port; pjsip_module by what pjsip writes back on registration; pjsip_hdr by reading
back the name of a header pjsip made; pjsip_event by the answer to an OPTIONS to ourselves.
What fails its check is not used (the caller goes on without it); a missing symbol makes
`available()` false.
"""
from __future__ import annotations

import ctypes
import logging
from typing import Callable

log = logging.getLogger("deskphone.sip.native")

_lib: ctypes.CDLL | None = None


def _load() -> ctypes.CDLL | None:
    global _lib
    if _lib is None:
        try:
            import pjsua2
            from pjsua2 import _pjsua2  # the SWIG extension; holds all of pjproject
            _lib = ctypes.CDLL(_pjsua2.__file__)
            _lib.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p
            _lib.pjsip_rx_data_get_info.restype = ctypes.c_char_p
            _lib.pjsip_rx_data_get_info.argtypes = [ctypes.c_void_p]
            _lib.pjsip_endpt_respond_stateless.argtypes = [
                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                ctypes.c_void_p, ctypes.c_void_p]
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
    log_level(0)


def log_level(level: int) -> bool:
    """pjlib's log level, at any time (pjsua2 sets it only at libInit): 5 lets the SIP
    message trace through (log.sip_trace), 2 only errors. False: not reachable."""
    lib = _load()
    if lib:
        lib.pj_log_set_level(ctypes.c_int(level))
    return bool(lib)


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


# --- OPTIONS keep-alive (firmware/sip/registration.py) --------------------------------------
#
# pjsua2 2.15 cannot send an OPTIONS outside a call. pjsua_acc_create_request builds one
# as the account would (From, Contact, outbound proxy Route), pjsip_endpt_send_request
# sends it statefully (retransmissions) and calls back once with the final answer. Its
# `timeout` argument is ignored by pjsip 2.x (the transaction ends after 32 s): whoever
# needs a shorter bound keeps its own timer and ignores a late answer.

class _Event(ctypes.Structure):
    # pjsip_event (sip_event.h, unchanged since pjsip 1.x): list links, type, then the
    # body.tsx_state member: src (rdata | tdata | timer), tsx, prev_state, type of src
    _fields_ = [("prev", ctypes.c_void_p), ("next", ctypes.c_void_p), ("type", ctypes.c_int),
                ("src", ctypes.c_void_p), ("tsx", ctypes.c_void_p),
                ("prev_state", ctypes.c_int), ("src_type", ctypes.c_int)]


_EVENT_RX_MSG, _EVENT_TSX_STATE = 3, 5        # pjsip_event_id_e
_SEND_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(_Event))
_sent: dict[int, Callable[[int], None]] = {}   # token -> done, until pjsip calls back
_tokens = iter(range(1, 1 << 62))


def _answer_code(event) -> int:
    """The status of the response that ended the transaction; 0 when none came (pjsip's
    own timeout or a transport error: nothing was heard from the far end)."""
    ev = event.contents
    if ev.type != _EVENT_TSX_STATE or ev.src_type != _EVENT_RX_MSG or not ev.src:
        return 0
    # "Response msg 404/OPTIONS/cseq=17349 (rdata0x...)": pjsip's public description
    info = (_lib.pjsip_rx_data_get_info(ctypes.c_void_p(ev.src)) or b"").decode("ascii",
                                                                              "replace")
    head = info.split("/", 1)[0]
    return int(head[13:]) if head.startswith("Response msg ") and head[13:].isdigit() else 0


def _request_done(token, event) -> None:
    try:
        done = _sent.pop(token or 0, None)
        if done is not None:
            done(_answer_code(event))
        elif token == _EVENT_CHECK:
            _event_checked(_answer_code(event))
    except Exception:  # noqa: BLE001 - never raise into C
        log.exception("OPTIONS callback")


_request_done_c = _SEND_CB(_request_done)     # lives as long as the module: pjsip may call
                                              # it at any time until libDestroy


def send_options(acc_id: int, target: str, done: Callable[[int], None]) -> bool:
    """OPTIONS `target` as pjsua account `acc_id`; done(code) once, on the pjsua thread,
    with the final answer's status (0: no answer in pjsip's 32 s, or not deliverable).
    Must run on the pjsua thread. False when it could not be sent (done is not called)."""
    lib = _load()
    if lib is None:
        return False
    keep: list = []
    uri = _s(target, keep)
    tdata = ctypes.c_void_p()
    method = ctypes.addressof(ctypes.c_byte.in_dll(lib, "pjsip_options_method"))
    st = lib.pjsua_acc_create_request(ctypes.c_int(acc_id), ctypes.c_void_p(method),
                                      ctypes.byref(uri), ctypes.byref(tdata))
    if st != 0:
        log.warning("OPTIONS to %s not built: %s", target, status_text(st))
        return False
    token = next(_tokens)
    _sent[token] = done
    st = lib.pjsip_endpt_send_request(ctypes.c_void_p(lib.pjsua_get_pjsip_endpt()), tdata,
                                      ctypes.c_int(-1), ctypes.c_void_p(token),
                                      _request_done_c)
    if st != 0 and token in _sent:
        # not sent, and pjsip did not call back: say so as "no answer"
        _sent.pop(token)
        log.info("OPTIONS to %s not sent: %s", target, status_text(st))
        done(0)
    return True


# --- our pjsip modules -------------------------------------------------------------------

class _PjsipModule(ctypes.Structure):
    # struct pjsip_module (sip_module.h), unchanged since pjsip 0.x
    _fields_ = [("prev", ctypes.c_void_p), ("next", ctypes.c_void_p), ("name", PjStr),
                ("id", ctypes.c_int), ("priority", ctypes.c_int),
                ("load", ctypes.c_void_p), ("start", ctypes.c_void_p),
                ("stop", ctypes.c_void_p), ("unload", ctypes.c_void_p),
                ("on_rx_request", ctypes.c_void_p), ("on_rx_response", ctypes.c_void_p),
                ("on_tx_request", ctypes.c_void_p), ("on_tx_response", ctypes.c_void_p),
                ("on_tsx_state", ctypes.c_void_p)]


_RX_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_MAX_PKT = 4000                # PJSIP_MAX_PKT_LEN


class _SockAddr(ctypes.Union):
    # pj_sockaddr: pj_sockaddr_in / pj_sockaddr_in6 (28 bytes, 32-bit aligned)
    _fields_ = [("bytes", ctypes.c_uint8 * 28), ("_align", ctypes.c_uint32 * 7)]


class _RxPacket(ctypes.Structure):
    # pjsip_rx_data from its start to pkt_info.src_port (sip_transport.h, unchanged in 2.x):
    # tp_info (pool, transport, tp_data, op_key = 32 + 2 pointers, rdata), pkt_info
    _fields_ = [("tp_info", ctypes.c_void_p * 38), ("ts_sec", ctypes.c_long),
                ("ts_msec", ctypes.c_long), ("packet", ctypes.c_char * _MAX_PKT),
                ("zero", ctypes.c_uint32), ("len", ctypes.c_ssize_t), ("src_addr", _SockAddr),
                ("src_addr_len", ctypes.c_int), ("src_name", ctypes.c_char * 46),
                ("src_port", ctypes.c_int)]


# The packet's place in pjsip_rx_data, for this build's pointer size. Checked at start
# against pjsip's own description of a request we send ourselves, so another layout is
# refused, not misread.
_PACKET_AT = _RxPacket.packet.offset

TAP_PRIORITY = 15              # before the transaction layer (16): sees every message

# The start-up self-check: the SIP thread sends this request to its own port; the tap
# (Taps) reads it back through _PACKET_AT and swallows it. Until then (and after a
# mismatch) nothing is read through the layout.
SELF_CHECK = "deskphone-self-check"
rx_layout: bool | None = None   # None: not checked yet; False: another layout, not read


def self_check_request(host: str, port: int, token: str, src: str = "") -> bytes:
    """The probe: a minimal OPTIONS that never leaves the phone. src: host:port of the
    socket it is sent from (checked against pjsip's own record of the source)."""
    return (f"OPTIONS sip:{SELF_CHECK}@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:9;branch=z9hG4bK-{token}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{SELF_CHECK}@{src or host}>;tag={token}\r\n"
            f"To: <sip:{SELF_CHECK}@{host}>\r\nCall-ID: {token}@{SELF_CHECK}\r\n"
            f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


# Where the packet really came from (not what its Via claims): checked by the same
# start-up probe, whose From names the socket it is sent from.
src_layout: bool | None = None


def received(rdata: int) -> tuple[bytes, tuple[str, int] | None]:
    """raw_packet and source in one read of the rx_data (the gate's per-request path)."""
    if not src_layout:
        return raw_packet(rdata), None
    pkt = _RxPacket.from_address(rdata)
    n = pkt.len
    raw = (ctypes.string_at(rdata + _PACKET_AT, n) if 0 < n <= _MAX_PKT
           else ctypes.string_at(rdata + _PACKET_AT, _MAX_PKT).split(b"\0", 1)[0])
    return raw, (pkt.src_name.decode("ascii", "replace"), pkt.src_port)


def _check_source(rdata: int, raw: bytes) -> None:
    """Is the probe's source where pjsip_rx_data's layout says it is?"""
    global src_layout
    try:
        want = raw.split(b"\r\nFrom: <sip:" + SELF_CHECK.encode() + b"@", 1)[1]
        want = want.split(b">", 1)[0].decode("ascii")
        pkt = _RxPacket.from_address(rdata)
        got = f"{pkt.src_name.decode('ascii', 'replace')}:{pkt.src_port}"
        src_layout = got == want and pkt.len == len(raw)
    except (IndexError, UnicodeDecodeError, ValueError):
        src_layout = False
    if not src_layout:
        log.warning("this pjsip's rx_data keeps the source address elsewhere: requests are "
                    "not filtered by source before pjsua (sip.trusted_only, intercom)")


def raw_packet(rdata: int) -> bytes:
    """The received datagram as pjsip holds it (whole when the start-up check has found
    where its length is kept, else up to its first NUL). Only once rx_layout is True."""
    if src_layout:
        pkt = _RxPacket.from_address(rdata)
        if 0 < pkt.len <= _MAX_PKT:
            return ctypes.string_at(rdata + _PACKET_AT, pkt.len)
    return ctypes.string_at(rdata + _PACKET_AT, _MAX_PKT).split(b"\0", 1)[0]


def check_probe(rdata: int) -> bool:
    """The start-up self-check, for an OPTIONS pjsip received before the layout is known:
    True when it is our own probe read where 2.15 keeps the packet (rx_layout becomes
    True); a packet that is not even an OPTIONS there means another layout (rx_layout
    becomes False: nothing is ever read). Someone else's OPTIONS decides nothing."""
    global rx_layout
    raw = raw_packet(rdata)
    if raw.startswith(f"OPTIONS sip:{SELF_CHECK}@".encode()):
        rx_layout = True
        _check_source(rdata, raw)
        log.info("pjsip rx_data layout checked: NOTIFYs can be read (BLF, check-sync)")
        report()
        return True
    if not raw.startswith(b"OPTIONS "):
        rx_layout = False
        log.warning("this pjsip's rx_data layout is not the one pjsua2 2.15 has: BLF lamps "
                    "(dialog mode) and PBX-triggered provisioning are off; use a "
                    "pjproject >= 2.16 build, or phone.blf_mode = presence")
    return False


def packet(rdata: int, method: str) -> bytes | None:
    """The raw text of a received message whose first word pjsip says is `method` (a
    request's method, or "SIP/2.0" for a response), or None when this pjsip's rx_data
    layout has not been found to be the one we know (then nothing is misread). A packet
    that does not start as pjsip says (a 200-character method pjsip's summary cuts
    short) is not read either; it says nothing about the layout."""
    if rx_layout is not True:
        return None
    raw = raw_packet(rdata)
    return raw if raw.startswith(method.encode() + b" ") else None


def endpoint() -> ctypes.c_void_p:
    return ctypes.c_void_p(_load().pjsua_get_pjsip_endpt())


def rx_info(rdata: int) -> bytes:
    """pjsip's own summary of a received message: b"Request msg INVITE/cseq=1 (rdata0x..)",
    b"Response msg 200/OPTIONS/cseq=2 (..)", b"MSG TOO LONG" for a long method."""
    return _lib.pjsip_rx_data_get_info(ctypes.c_void_p(rdata)) or b""


def respond(rdata: int, code: int, reason: str = "", headers: int | None = None) -> None:
    """Answer a request statelessly (headers: a header_list, or None)."""
    keep: list = []
    r = _s(reason, keep) if reason else None
    _lib.pjsip_endpt_respond_stateless(endpoint(), ctypes.c_void_p(rdata), code,
                                       ctypes.byref(r) if r is not None else None, headers,
                                       None)


# --- the one registration point for our pjsip modules ---------------------------------------

module_layout: bool | None = None     # pjsip_module: pjsip wrote its id and list links back
_modules: list[tuple[_PjsipModule, list]] = []    # registered, with what they reference


def register_module(name: str, priority: int, *, on_request=None,
                    on_response=None) -> _PjsipModule | None:
    """Register a pjsip module whose on_rx_request/on_rx_response run `on_request(rdata)` /
    `on_response(rdata)` (return 1: taken, 0: pass on). An exception is logged and passes
    the message on (never into C). A C function (a ctypes function of a library, as
    fastgate.c's) is registered as it is. None when it could not be registered."""
    global module_layout
    lib = _load()
    if lib is None:
        return None
    keep: list = []
    mod = _PjsipModule()
    mod.name = _s(name, keep)
    mod.id = -1
    mod.priority = priority
    for field, fn in (("on_rx_request", on_request), ("on_rx_response", on_response)):
        if fn is not None:
            cb = fn if isinstance(fn, ctypes._CFuncPtr) else rx_callback(fn, name)
            keep.append(cb)
            setattr(mod, field, ctypes.cast(cb, ctypes.c_void_p))
    st = lib.pjsip_endpt_register_module(endpoint(), ctypes.byref(mod))
    if st != 0:
        log.warning("pjsip module %s not registered: %s", name, status_text(st))
        return None
    module_layout = 0 <= mod.id < 64 and bool(mod.prev) and bool(mod.next)
    if not module_layout:
        log.warning("this pjsip's pjsip_module is not laid out as ours: %s not used", name)
        lib.pjsip_endpt_unregister_module(endpoint(), ctypes.byref(mod))
        return None
    _modules.append((mod, keep))
    return mod


def unregister_module(mod: _PjsipModule | None) -> None:
    for i, (m, _) in enumerate(_modules):
        if m is mod:
            _lib.pjsip_endpt_unregister_module(endpoint(), ctypes.byref(mod))
            del _modules[i]
            return


def rx_callback(fn, name: str):
    """`fn(rdata) -> int` as a C callback pjsip (or fastgate.c) may call; keep it alive."""
    return _RX_CB(_guarded(fn, name))


def rx_offsets() -> tuple[int, int, int]:
    """Where pjsip_rx_data keeps the packet, its length (pj_ssize_t) and its source name
    (char[46]): for fastgate.c, which reads them only once the start-up probe found them
    there (it is armed by the gate only then)."""
    return _RxPacket.packet.offset, _RxPacket.len.offset, _RxPacket.src_name.offset


def _guarded(fn, name: str):
    def call(rdata: int) -> int:
        try:
            return fn(rdata)
        except Exception:  # noqa: BLE001 - never raise into C
            log.exception("%s", name)
            return 0
    return call


# --- header lists for stateless answers ---------------------------------------------------

class _GenericHdr(ctypes.Structure):
    # pjsip_generic_string_hdr (sip_msg.h): the pjsip_hdr members, then hvalue
    _fields_ = [("prev", ctypes.c_void_p), ("next", ctypes.c_void_p), ("type", ctypes.c_int),
                ("name", PjStr), ("sname", PjStr), ("vptr", ctypes.c_void_p),
                ("hvalue", PjStr)]


hdr_layout: bool | None = None        # pjsip_hdr: the name and value read back as given
_pool = None
_hdr_keep: list = []


def header_list(name: str, value: str) -> int | None:
    """A one-header list (a pjsip_hdr list head) for respond(); None if not available."""
    global _pool, hdr_layout
    lib = _load()
    if lib is None or hdr_layout is False:
        return None
    if _pool is None:
        lib.pjsip_endpt_create_pool.restype = ctypes.c_void_p
        lib.pjsip_endpt_create_pool.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                                ctypes.c_size_t, ctypes.c_size_t]
        lib.pj_pool_release.argtypes = [ctypes.c_void_p]
        lib.pjsip_generic_string_hdr_create.restype = ctypes.c_void_p
        lib.pjsip_generic_string_hdr_create.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                                        ctypes.c_void_p]
        _pool = lib.pjsip_endpt_create_pool(endpoint(), b"deskphone", 512, 512)
    n, v = _s(name, _hdr_keep), _s(value, _hdr_keep)
    _hdr_keep.extend([n, v])
    hdr = lib.pjsip_generic_string_hdr_create(_pool, ctypes.byref(n), ctypes.byref(v))
    made = _GenericHdr.from_address(hdr)
    hdr_layout = (_text(made.name) == name and _text(made.hvalue) == value)
    if not hdr_layout:
        log.warning("this pjsip's pjsip_hdr is not laid out as ours: answers go without "
                    "extra headers (Allow, Retry-After)")
        return None
    head = (ctypes.c_void_p * 8)()          # list head: prev, next (+ room of a pjsip_hdr)
    _hdr_keep.append(head)
    head[0] = head[1] = hdr
    made.prev = made.next = ctypes.addressof(head)
    return ctypes.addressof(head)


def _text(s: PjStr) -> str:
    if not s.ptr or not 0 < s.slen < 256:
        return ""
    return ctypes.string_at(s.ptr, s.slen).decode("utf-8", "replace")


def release() -> None:
    """Before libDestroy: forget regc handles, modules and the header pool."""
    global _pool
    drop_pending()
    for mod, _ in list(_modules):
        unregister_module(mod)
    if _pool is not None and _lib:
        _lib.pj_pool_release(_pool)
    _pool = None
    _hdr_keep.clear()


# --- the pjsip_event check: an OPTIONS to ourselves -----------------------------------------

event_layout: bool | None = None      # pjsip_event: the answer's status read through it
_EVENT_CHECK = 1 << 62                 # token of the self-check OPTIONS (never a real one)


def check_event(acc_id: int, target: str) -> None:
    """Send the OPTIONS whose answer (pjsua's own 200) checks pjsip_event's layout."""
    global event_layout
    lib = _load()
    if lib is None:
        return
    keep: list = []
    tdata = ctypes.c_void_p()
    method = ctypes.addressof(ctypes.c_byte.in_dll(lib, "pjsip_options_method"))
    st = lib.pjsua_acc_create_request(ctypes.c_int(acc_id), ctypes.c_void_p(method),
                                      ctypes.byref(_s(target, keep)), ctypes.byref(tdata))
    if st == 0:
        st = lib.pjsip_endpt_send_request(endpoint(), tdata, ctypes.c_int(-1),
                                          ctypes.c_void_p(_EVENT_CHECK), _request_done_c)
    if st != 0:
        log.info("pjsip_event self-check not sent: %s", status_text(st))


def _event_checked(code: int) -> None:
    global event_layout
    event_layout = code == 200
    if not event_layout:
        log.warning("OPTIONS to ourselves not read as answered 200 (got %d): keep-alives "
                    "may read as unanswered on this pjsip (pjsip_event layout)", code)
    report()


_reported = False


def checks() -> dict[str, bool | None]:
    """Every struct this module reads or writes: True checked, False another layout (not
    used), None not checked (yet)."""
    return {"rx_data packet and length": rx_layout, "rx_data source": src_layout,
            "pjsip_module": module_layout, "pjsip_hdr": hdr_layout,
            "pjsip_event": event_layout}


def report() -> None:
    """Log the self-check once every part has been seen."""
    global _reported
    c = checks()
    if None in c.values() or _reported:
        return
    _reported = True
    bad = [k for k, ok in c.items() if not ok]
    (log.warning if bad else log.info)("native self-check: %s", "all structs as expected"
                                       if not bad else "not as expected: " + ", ".join(bad))
