"""Lines as pjsua accounts: what the Phone asks for (AccountSpec), pjsua's account object and
the commands that create, change, register and probe them (on the SIP thread).

Registration policy (retries, failover, keep-alive timing) is firmware/sip/registration.py;
here is only what pjsua is told and what it says back (RegistrationStarted/-Changed,
MessagesWaiting).
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Callable

import pjsua2 as pj

from firmware.record import Record, replace
from firmware.events import (MessagesWaiting, RegistrationChanged, RegistrationStarted,
                             Unregistered)
from firmware.sip import native
from firmware.sip.text import Message, host_of, parse_summary, sip_uri, source_ip

if TYPE_CHECKING:
    from firmware.settings import AccountSettings
    from firmware.sip.engine import SipEngine

log = logging.getLogger("deskphone.sip")

# answers to a REGISTER that mean the server is silent: nobody answered (0, 408) or a proxy
# could not reach it (502, 503, 504)
NO_ANSWER = (0, 408, 502, 503, 504)


class AccountSpec(Record, frozen=True):
    user: str
    auth_user: str = ""
    password: str = ""
    display_name: str = ""
    registrar: str = ""         # host[:port]; empty = no registration (P2P line)
    proxy: str = ""
    expires: int = 3600
    anonymous: bool = False     # outgoing calls hide who we are (RFC 3323)
    mwi: bool = False           # subscribe to message-summary (RFC 3842) once registered

    @property
    def domain(self) -> str:
        return host_of(self.registrar)


def line_spec(s: AccountSettings, server: str, expires: int) -> AccountSpec:
    """What pjsua is told about a line registering at `server` (its registrar or its
    secondary) for `expires` seconds."""
    return AccountSpec(user=s.user, auth_user=s.auth_user, password=s.password,
                       display_name=s.display_name, registrar=server,
                       proxy=s.outbound_proxy, expires=expires, anonymous=s.anonymous,
                       mwi=s.mwi)


def _identity(spec: AccountSpec) -> tuple:
    """What a pjsua account cannot change in place (see AccountCommands._set_account)."""
    return spec.registrar, spec.user, spec.proxy, spec.auth_user, spec.password


def refresh_margin(expires: int) -> int:
    """Seconds before expiry that pjsip should send the refresh REGISTER."""
    return max(1, min(30, expires // 10))


def refresh_after(granted: int, requested: int) -> int:
    """When pjsip really sends the refresh, seconds after a 200 OK (sip_reg.c: never
    later than requested, never sooner than 5 s)."""
    return max(5, min(requested, granted - refresh_margin(requested)))


class _Account(pj.Account):
    """pjsua's account for a line (index 0: the local account for direct IP calls; ANON + i:
    line i's anonymous twin). Lives and dies on the SIP thread."""

    def __init__(self, engine: SipEngine, index: int):
        super().__init__()
        self.engine = engine
        self.index = index
        self.spec: AccountSpec | None = None

    def onRegStarted(self, prm):
        self.engine._guard(self._reg_started, prm)

    def _reg_started(self, prm):
        if self.spec:
            self.engine.post(RegistrationStarted(self.index, self.spec.registrar, prm.renew))

    def onRegState(self, prm):
        self.engine._guard(self._reg_state, prm)

    def _reg_state(self, prm):
        if not self.spec:
            return
        info = self.getInfo()
        min_expires = 0
        if prm.code == 423:
            try:
                min_expires = int(Message.parse(prm.rdata.wholeMsg).get("min-expires", "0"))
            except (ValueError, AttributeError):
                min_expires = 0
        network = prm.status == 0 or prm.code not in (408, 502, 503)
        reason = prm.reason
        if prm.status != 0 and prm.code in (408, 502, 503):
            reason = self.engine.ep.utilStrError(prm.status)
        date, received = _server_date(prm)
        self.engine.post(RegistrationChanged(
            self.index, self.spec.registrar, prm.code, reason, bool(info.regIsActive),
            int(prm.expiration), network, min_expires, date, received))

    def onIncomingCall(self, prm):
        self.engine._guard(self.engine._incoming, self, prm)

    def onMwiInfo(self, prm):
        self.engine._guard(self._mwi, prm)

    def _mwi(self, prm):
        source = prm.rdata.srcAddress
        if prm.state == pj.PJSIP_EVSUB_STATE_NULL and \
                not self.engine.policy.trust.is_server(source_ip(source)):
            # unsolicited (no subscription of ours): only the lines' servers may light the
            # lamp; pjsua answers 200 itself unless the request gate refused it first
            log.info("message-summary NOTIFY from %s ignored: not one of the lines' servers "
                     "(or sip.trusted)", source)
            return
        waiting, new, old = parse_summary(Message.parse(prm.rdata.wholeMsg).body)
        self.engine.post(MessagesWaiting(self.index, waiting, new, old,
                                         prm.rdata.srcAddress))


def _server_date(prm) -> tuple[str, float]:
    """The Date header of a 2xx answer to our REGISTER (the registrar's clock: the manual's
    time mode "SIP server") and when it arrived; ("", 0.0) for any other answer. Read as
    text here; firmware/features/clock.py judges it."""
    if not 200 <= prm.code < 300:
        return "", 0.0
    received = time.time()
    try:
        msg = Message.parse(prm.rdata.wholeMsg)
    except AttributeError:
        return "", received
    if not msg.get("cseq").upper().endswith("REGISTER"):
        return "", received
    return msg.get("date"), received


def mark(tc: pj.TransportConfig, dscp: int) -> None:
    """DSCP on the sockets of a transport (sip.qos_sip, sip.qos_voice: the office switch
    queues voice first); 0 leaves them unmarked."""
    if dscp:
        tc.qosParams.flags = pj.PJ_QOS_PARAM_HAS_DSCP
        tc.qosParams.dscp_val = dscp


class AccountCommands:
    """SipEngine's account commands (a mixin: the engine holds the state they use)."""

    ANON = 100       # accounts[ANON + i]: the anonymous twin of line i

    def _media_config(self) -> pj.TransportConfig:
        mt = pj.TransportConfig()
        mt.port = self.config.rtp_port
        mt.portRange = self.config.rtp_ports
        mark(mt, self.config.qos_voice)        # manual: Voice QoS
        if self.config.bind not in ("", "0.0.0.0"):
            mt.boundAddress = self.config.bind
        return mt

    def _account_config(self, spec: AccountSpec | None, *,
                        anonymous: bool = False) -> pj.AccountConfig:
        c = self.config
        a = pj.AccountConfig()
        a.mediaConfig.transportConfig = self._media_config()
        a.sipConfig.transportId = self._transport
        # session timers off unless asked (LP-388: on by default they misbehaved)
        a.callConfig.timerUse = (pj.PJSUA_SIP_TIMER_OPTIONAL if c.session_timers
                                 else pj.PJSUA_SIP_TIMER_INACTIVE)
        a.callConfig.timerSessExpiresSec = c.session_expires
        # (pjsip always supports 100rel; "not used" still PRACKs, so it is not offered)
        a.callConfig.prackUse = (pj.PJSUA_100REL_MANDATORY if c.prack == "required"
                                 else pj.PJSUA_100REL_OPTIONAL)
        a.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
        a.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
        a.regConfig.retryIntervalSec = 0   # firmware.sip.registration decides retries
        a.regConfig.registerOnAdd = False
        a.regConfig.disableRegOnModify = True
        a.regConfig.unregWaitMsec = 500
        a.regConfig.dropCallsOnFail = False
        if spec is None:
            a.idUri = f"sip:{self.local_host}"
            return a
        host = spec.domain or self.local_host
        name = spec.display_name.replace('"', "")
        a.idUri = (f'"{name}" <sip:{spec.user}@{host}>' if name else f"sip:{spec.user}@{host}")
        if anonymous:              # RFC 3323: an anonymous From, no registration
            a.idUri = '"Anonymous" <sip:anonymous@anonymous.invalid>'
            spec = replace(spec, registrar="")
        if spec.registrar:
            a.regConfig.registrarUri = sip_uri(spec.registrar)
            a.regConfig.timeoutSec = spec.expires
            a.regConfig.delayBeforeRefreshSec = refresh_margin(spec.expires)
        if spec.proxy:
            a.sipConfig.proxies.append(sip_uri(spec.proxy) + ";lr")
        if spec.mwi and spec.registrar:
            a.mwiConfig.enabled = True
            a.mwiConfig.expirationSec = max(60, spec.expires)
        if spec.password or spec.auth_user:
            a.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", "*", spec.auth_user or spec.user, 0, spec.password))
        return a

    def set_account(self, index: int, spec: AccountSpec | None):
        return self.submit(self._set_account, index, spec)

    def _set_account(self, index: int, spec: AccountSpec | None):
        """Create, change or remove account `index`.

        A new registrar, user, proxy or credentials get a fresh pjsua account (a modified
        one keeps sending REGISTERs to the old server, and pjsip's cached Authorization
        answered a refresh with the old password: the line said "registered" with a
        password the server no longer takes); calls in progress are not touched.
        """
        twin = self.accounts.get(self.ANON + index)
        if twin is not None and (spec is None or not spec.anonymous):
            twin = self.accounts.pop(self.ANON + index)
            twin.spec = None
            twin.shutdown()
            del twin
        acc = self.accounts.get(index)
        if acc is not None and (spec is None or _identity(acc.spec) != _identity(spec)):
            # Destroy it now, before a new account can take its pjsua slot: a late
            # destructor would delete whatever account holds the slot by then. Nothing
            # may keep a reference (not even a traceback of a pj.Error being handled).
            acc = self.accounts.pop(index)
            acc.spec = None
            acc.shutdown()
            del acc
            acc = None
        if spec is None:
            return
        cfg = self._account_config(spec)
        if acc is None:
            acc = _Account(self, index)
            acc.spec = spec
            acc.create(cfg)
            self.accounts[index] = acc
        else:
            acc.spec = spec
            acc.modify(cfg)

    def register(self, index: int, renew: bool = True, fresh: bool = False):
        """REGISTER now. fresh: the last one is still waiting for a silent server (pjsip
        gives up after 32 s): drop it with its account and start over."""
        return self.submit(self._register, index, renew, fresh)

    def _register(self, index: int, renew: bool, fresh: bool) -> None:
        acc = self.accounts.get(index)
        if acc is None or acc.spec is None or not acc.spec.registrar:
            return
        if fresh:
            spec = acc.spec
            del acc
            # pjsua_acc_del unregisters first, which the REGISTER pjsip still holds makes
            # PJSIP_EBUSY: expected, not worth a warning every retry
            self._writer.expected = "PJSIP_EBUSY"
            try:
                self._set_account(index, None)
            finally:
                self._writer.expected = ""
            self._set_account(index, spec)
            acc = self.accounts[index]
        acc.setRegistration(renew)

    def connect(self, index: int, *, unregister_first: bool, fresh: bool = False):
        """Start line `index` at its registrar: the REGISTER now or, unregister_first, the
        boot unregister (REGISTER Contact: * Expires: 0) and at its answer, unless the server
        is silent (NO_ANSWER) or the line's account was replaced meanwhile, the REGISTER,
        both here on the SIP thread: no turn of the event loop sits between them, and none is
        needed before the App exists (firmware/startup.py). The answer is posted as
        Unregistered(registering=whether the REGISTER went out); not sent: code -1."""
        fut = self.submit(self._connect, index, unregister_first, fresh)
        if unregister_first:      # the callback runs on the SIP thread, where post() may
            fut.add_done_callback(lambda f: f.exception() is None and f.result() or
                                  self.post(Unregistered(index, -1, "not sent")))
        return fut

    def _connect(self, index: int, unregister_first: bool, fresh: bool) -> bool:
        if not unregister_first:
            self._register(index, True, fresh)
            return True
        # the spec, not the account: a closure pjsip holds must not keep a pjsua object alive
        spec = getattr(self.accounts.get(index), "spec", None)

        def answered(code: int, reason: str) -> None:
            again = code not in NO_ANSWER and spec is not None and \
                getattr(self.accounts.get(index), "spec", None) is spec
            if again:       # after pjsip's callback has returned (engine._flush), before
                self._later.append(lambda: self._register(index, True, fresh))   # posting
            self.post(Unregistered(index, code, reason, registering=again))
        return self._unregister_all(index, answered)

    def _unregister_all(self, index: int, done: Callable[[int, str], None]) -> bool:
        """REGISTER Contact: * Expires: 0; done(code, reason) is called on the SIP thread."""
        acc = self.accounts.get(index)
        if acc is None or acc.spec is None or not acc.spec.registrar:
            return False
        spec = acc.spec
        return native.unregister_all(registrar=sip_uri(spec.registrar),
                                     aor=f"sip:{spec.user}@{spec.domain}",
                                     user=spec.auth_user or spec.user,
                                     password=spec.password, done=done)

    def keepalive(self, index: int, done: Callable[[int], None], *, own_address: bool = True):
        """OPTIONS through the line's server (firmware/sip/registration.py). own_address: to
        the line's own address, which the server forwards to our binding (we answer it):
        200 while the binding exists, 404/480 once the server lost it; else to the server
        itself. done(code) on the SIP thread; code 0 = no answer. Future: False = not sent."""
        return self.submit(self._keepalive, index, done, own_address)

    def _keepalive(self, index: int, done, own_address: bool) -> bool:
        acc = self.accounts.get(index)
        if acc is None or acc.spec is None or not acc.spec.registrar:
            return False
        spec = acc.spec
        target = (f"sip:{spec.user}@{spec.domain}" if own_address
                  else sip_uri(spec.registrar))
        return native.send_options(acc.getId(), target, done)

    def _anonymous(self, index: int) -> _Account:
        """The twin of account `index` that calls as "Anonymous" (same server, same
        credentials for the proxy's challenge, no registration)."""
        spec = self.accounts[index].spec
        twin = self.accounts.get(self.ANON + index)
        if twin is None or twin.spec != spec:
            if twin is not None:
                twin = self.accounts.pop(self.ANON + index)
                twin.spec = None
                twin.shutdown()
                del twin
            twin = _Account(self, self.ANON + index)
            twin.create(self._account_config(spec, anonymous=True))
            twin.spec = spec
            self.accounts[self.ANON + index] = twin
        return twin
