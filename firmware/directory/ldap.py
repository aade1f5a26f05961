"""LDAP searches of the manual's LDAP appendix ([ldap] and [ldap2] in settings.toml).

`search(servers, typed, kind)` asks the configured servers at once (the second in a
thread of its own, so two silent servers cost one timeout) and returns the hits, [ldap]'s
first, with, when a server failed, a reason a person can read ("LDAP 10.0.0.5:389: wrong
bind user or password", "certificate not trusted: check ldap.ca_file": `_why`, never an
exception's repr). It blocks (up to each server's timeout for the connect and for every
answer), so it runs in a worker thread, never on the loop: firmware/features/ldap.py
hands it to one.

The filter is the administrator's template with `%` or `%s` replaced by what the person
typed, escaped as RFC 4515 says (`*`, `(`, `)`, `\\`, NUL), then `*`: a prefix search, as
the manual's examples read ("(|(cn=%s)(sn=%s))": cn or sn starting with the prefix).

At most KEPT hits are kept of one search, both servers together, whatever ldap.max_hits
says (0 = all: up to 32000 a server): the LCD shows four rows and the web one table, and a
person narrows a search by typing more, never by scrolling thousands of names; 500 is a
whole department's directory, a few hundred kilobytes at most, drawn at once. When a
server had more than it gave (ldap.max_hits, or the phone's limit), `Answer.more` says so
(`first_shown`: "First 5 shown: type more to narrow").

The web's searches run in threads of their own (`search_off_loop`: at most WEB_SEARCHES at
once, daemon threads, each with the second server's thread beside it), never in the loop's
default executor: a dead server holds a search's thread up to ldap.timeout for each step, on
each server, and that pool is what provisioning's fetches and shutdown use. When both are
busy the web is told so at once (Busy: "a search is still running, try again"), nothing
waits behind them.

ldap3 (a pure-Python client) is imported at the first search, so a phone without LDAP
never loads it; the settings checks here need nothing from it. Every call into ldap3 is
inside `except Exception`: a peer that is not an LDAP server makes it raise a bare KeyError
from its ASN.1 decoder, and nothing a server sends may reach the phone as an exception.
"""
from __future__ import annotations

import asyncio
import logging
import re
import threading

from firmware.record import Record, replace

log = logging.getLogger("deskphone.ldap")

MAX_TYPED = 64            # characters of a search: a name or a number, never more
KEPT = 500                # hits kept of one search, both servers together (module doc)
WEB_SEARCHES = 2          # the web's searches running at once (their own threads)
BUSY = "A search is still running: try again in a moment"
NO_SERVER = "LDAP: no server is set (Phone Book > LDAP)"     # the administrator's words
_ESCAPES = {"\\": r"\5c", "*": r"\2a", "(": r"\28", ")": r"\29", "\0": r"\00"}
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+")


class Hit(Record, frozen=True):
    """One entry found: its name (the first name attribute it has) and its numbers."""
    name: str
    numbers: tuple = ()


class Answer(Record, frozen=True):
    """What a search found; `reason` says why a server gave nothing ("" = all answered);
    `more`: the servers had more than the KEPT hits kept."""
    hits: tuple = ()
    reason: str = ""
    more: bool = False


def first_shown(n: int) -> str:
    """What the LCD says when the servers had more than the `n` hits shown (Answer.more)."""
    return f"First {n} shown: type more to narrow"


class Busy(Exception):
    """Every thread of the web's searches is still waiting for a server."""


# -- the settings' checks (firmware/settings/schema.py) ------------------------------------

def check_host(value: str) -> None:
    """A host name or an address; "host:389" is refused (it was taken, the port setting
    then ignored and the reasons read "LDAP host:389:389"). An IPv6 address has two
    colons or more, or is in brackets, which a port follows ("[::1]:389")."""
    if re.fullmatch(r"[^:\[\]]+:[0-9]*|\[[^\]]*\]:[0-9]*", value):
        raise ValueError(f"'{value}' holds a port: put the port in LDAP Server Port")
    if value and not re.fullmatch(r"[A-Za-z0-9.:_-]+|\[[0-9A-Fa-f:.]+\]", value):
        raise ValueError(f"'{value}' is not a host name or IP address (e.g. ldap.example.com)")


def check_filter(value: str) -> None:
    """An LDAP filter in parentheses, balanced, as RFC 4515 writes it ("" = none)."""
    if not value:
        return
    depth, closed_at = 0, []
    for i, ch in enumerate(value):
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            break
        if depth == 0:
            closed_at.append(i)
    if not (value.startswith("(") and value.endswith(")")) or depth != 0:
        raise ValueError(f"'{value}' is not an LDAP filter: it must be in parentheses, each "
                         "opened one closed, e.g. (|(cn=%)(sn=%))")
    if closed_at[0] != len(value) - 1:
        raise ValueError(f"'{value}' is several filters: join them with (&...) (all) or "
                         "(|...) (any), e.g. (|(cn=%)(sn=%))")
    if "\n" in value or "\r" in value:
        raise ValueError("must be a single line")


def check_attribute(value: str) -> None:
    if not _ATTRIBUTE.fullmatch(value):
        raise ValueError("an attribute name is letters, digits and '-' (e.g. telephoneNumber)")


# -- filters --------------------------------------------------------------------------------

def escape(typed: str) -> str:
    """What a person typed, safe inside a filter's value (RFC 4515 section 3)."""
    return "".join(_ESCAPES.get(ch, ch) for ch in typed)


def build_filter(template: str, typed: str) -> str:
    """The template with each % or %s replaced by the escaped prefix and '*' (one pass:
    a % the person typed is never replaced again)."""
    value = escape(typed[:MAX_TYPED]) + "*"
    return re.sub(r"%s?", lambda m: value, template)


def servers(settings) -> list:
    """The configured servers' sections, [ldap] first ([ldap2]: the second)."""
    return [s for s in (settings.ldap, settings.ldap2) if s.server]


# -- searching ------------------------------------------------------------------------------

def search(sections: list, typed: str, kind: str = "name", sort: bool = False) -> Answer:
    """Hits for `typed` from every server (kind "name" or "number"); blocks: a worker's.
    The servers are asked at once (the second in a thread of its own: two silent servers
    cost one timeout, not two), their hits merged in order, [ldap]'s first."""
    answers: list = [None] * len(sections)

    def ask(i: int) -> None:
        answers[i] = _search_one(sections[i], typed, kind)

    others = [threading.Thread(target=ask, args=(i,), name="ldap-server", daemon=True)
              for i in range(1, len(sections))]
    for thread in others:
        thread.start()
    if sections:
        ask(0)
    for thread, cfg in zip(others, sections[1:]):
        thread.join(_longest(cfg))                       # bounded: its own timeouts
    hits: list[Hit] = []
    reasons = []
    more = False
    for cfg, answer in zip(sections, answers):
        found, reason, cut = answer or (
            [], f"{_where(cfg)}: no answer within {cfg.timeout} s", False)
        hits.extend(found)
        more = more or cut
        if reason:
            reasons.append(reason)
    if len(hits) > KEPT:                  # both servers together keep KEPT (module doc)
        hits, more = hits[:KEPT], True
    if not sections:
        reasons.append(NO_SERVER)
    if sort:
        hits.sort(key=lambda h: (not h.name, h.name.casefold(), h.numbers))
    return Answer(tuple(hits), "; ".join(reasons), more)


def _longest(cfg) -> float:
    """How long a search of `cfg` can take: connect, StartTLS, bind, search and unbind,
    each bounded by its timeout (a second to spare)."""
    return 5 * cfg.timeout + 1


def _where(cfg) -> str:
    return f"LDAP {cfg.server}:{cfg.port}"


def _key(cfg) -> str:
    """The settings section `cfg` is, for a reason that names a setting: [ldap] is the one
    with the lookups (LdapSettings), [ldap2] the plain server section."""
    return "ldap" if hasattr(cfg, "incoming") else "ldap2"


_web_threads = threading.BoundedSemaphore(WEB_SEARCHES)


async def search_off_loop(settings, typed: str, kind: str = "name") -> Answer:
    """`search` of the configured servers from a coroutine (the web) in a thread of the
    web's searches (module doc), so a silent server holds that thread for its timeout,
    never the event loop nor its default executor. Busy when WEB_SEARCHES are running.
    The servers' settings are copied first: a save meanwhile does not change them under
    the search."""
    if not _web_threads.acquire(blocking=False):
        raise Busy(BUSY)
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    args = ([replace(s) for s in servers(settings)], typed[:MAX_TYPED], kind,
            settings.ldap.sort)

    def settle(answer: Answer) -> None:
        if not done.done():               # the request may have gone (browser closed)
            done.set_result(answer)

    def run() -> None:
        try:
            answer = search(*args)
        except Exception as e:  # noqa: BLE001 - the page says it; nothing else to do
            answer = Answer((), f"LDAP search failed: {e!r}")
        finally:
            _web_threads.release()        # the thread is free again, answered or not
        try:
            loop.call_soon_threadsafe(settle, answer)
        except RuntimeError:              # the loop closed meanwhile (shutdown)
            log.debug("LDAP web search answered after the loop closed")

    # a daemon thread: one waiting on a dead server never holds up the phone's exit
    threading.Thread(target=run, name="ldap-web", daemon=True).start()
    return await done


def caller_name(sections: list, number: str) -> tuple[str, str]:
    """(name, reason) of the entry one of whose numbers is `number` (spaces, dashes,
    dots and brackets aside); ("", reason) when none is."""
    want = digits(number)
    if not want:
        return "", ""
    answer = search(sections, number, "number")
    for hit in answer.hits:
        if hit.name and any(digits(n) == want for n in hit.numbers):
            return hit.name, answer.reason
    return "", answer.reason


def digits(number: str) -> str:
    """A number as dialled: without the spaces, dashes, dots and brackets of a directory."""
    return re.sub(r"[\s().-]", "", number)


def _search_one(cfg, typed: str, kind: str, room: int = KEPT) -> tuple[list[Hit], str, bool]:
    """(hits, why the server gave none or not all, whether it had more than it gave: more
    than ldap.max_hits or than the phone keeps, so a person knows to type more)."""
    where = _where(cfg)
    template = cfg.name_filter if kind == "name" else cfg.number_filter
    if not template:
        return [], f"{where}: no {kind} filter is set", False
    if cfg.user and not cfg.password:     # ldap3: LDAPPasswordIsMandatoryError
        return [], f"{where}: a bind user needs a password ({_key(cfg)}.password)", False
    limit = min(cfg.max_hits or room, room)
    conn = None
    try:
        import ldap3
        conn = _connect(ldap3, cfg)
        if cfg.security == "starttls" and not conn.start_tls():
            return [], f"{where}: StartTLS refused ({_result(conn)})", False
        if not conn.bind():
            code = conn.result.get("result") if conn.result else None
            return [], (f"{where}: wrong bind user or password" if code == 49
                        else f"{where}: bind refused ({_result(conn)})"), False
        name_attrs, number_attrs = list(cfg.name_attributes), list(cfg.number_attributes)
        conn.search(cfg.base, build_filter(template, typed), ldap3.SUBTREE,
                    attributes=name_attrs + number_attrs, size_limit=limit,
                    time_limit=cfg.timeout)
        code = conn.result.get("result") if conn.result else None
        found = [_hit(e.get("attributes", {}), name_attrs, number_attrs)
                 for e in conn.response or () if e.get("type") == "searchResEntry"]
        hits = found[:limit]              # a server that ignores the size limit too
        cut = len(found) > limit or code == 4 and len(found) >= limit
        if code not in (0, 4):            # 4: more than the limit, the first ones came
            return hits, f"{where}: search failed ({_result(conn)})", False
        return hits, "", cut
    except Exception as e:  # noqa: BLE001 - see the module doc: nothing reaches the phone
        return [], f"{where}: {_why(e, cfg)}", False
    finally:
        if conn is not None:
            try:
                conn.unbind()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass


def _connect(ldap3, cfg):
    """An open connection (not bound): both timeouts always set, TLS checked."""
    tls = None
    if cfg.security != "none":
        import ssl
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=cfg.ca_file or None)
    server = ldap3.Server(cfg.server, port=cfg.port, use_ssl=cfg.security == "ldaps", tls=tls,
                          get_info=ldap3.NONE, connect_timeout=cfg.timeout)
    conn = ldap3.Connection(server, user=cfg.user or None, password=cfg.password or None,
                            version=cfg.version, receive_timeout=cfg.timeout, read_only=True,
                            auto_referrals=False, raise_exceptions=False)
    conn.open()
    return conn


def _hit(attributes, name_attrs: list[str], number_attrs: list[str]) -> Hit:
    """Attribute names compared without case (the manual writes "Mobile", servers "mobile")."""
    values = {k.lower(): v if isinstance(v, list) else [v] for k, v in attributes.items()}
    name = next((str(values[a.lower()][0]) for a in name_attrs if values.get(a.lower())), "")
    numbers = tuple(str(n) for a in number_attrs for n in values.get(a.lower()) or () if n)
    return Hit(name, numbers)


def _result(conn) -> str:
    r = conn.result or {}
    return f"{r.get('result')} {r.get('description', '')} {r.get('message', '')}".strip()


def _why(e: Exception, cfg) -> str:
    """An exception from ldap3 (or under it) in a person's words."""
    text = str(e)
    kind = type(e).__name__
    if "timed out" in text or "timeout" in text.lower():
        return f"no answer within {cfg.timeout} s"
    if kind == "LDAPSocketOpenError":
        if "certificate" in text.lower() or "ssl" in text.lower():
            return _tls_why(text, cfg)
        errno = re.search(r"\[Errno -?\d+\] ([^'\])\]]+)", text)    # the OS's words
        return f"cannot connect ({errno[1].strip().lower()})" if errno else \
            f"cannot connect: {text}"
    if kind == "LDAPSocketReceiveError":
        return f"the connection broke: {text}"
    if kind in ("KeyError", "PyAsn1Error", "IndexError", "TypeError", "ValueError"):
        return f"the server's answer is not LDAP ({kind})"
    if kind == "LDAPStartTLSError" or "ssl" in kind.lower():
        return _tls_why(text, cfg)
    return f"{kind}: {text}"


def _tls_why(text: str, cfg) -> str:
    """A TLS failure in words (ldap3 wraps ssl's message in a tuple's repr, twice):
    what a person can change, named; else ssl's own words, without the reprs."""
    key = _key(cfg)
    if "CERTIFICATE_VERIFY_FAILED" in text and "expired" in text:
        return "the server's certificate has expired"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"certificate not trusted: check {key}.ca_file"
    if "match any name" in text or "mismatch" in text.lower():
        return "host name does not match the certificate"
    if "CA public key file" in text:
        return f"cannot read the CA file ({key}.ca_file)"
    if "UNEXPECTED_EOF" in text or "WRONG_VERSION_NUMBER" in text:
        return "the server does not speak TLS there (LDAPS is port 636, StartTLS 389)"
    said = re.search(r"\[SSL: [A-Z0-9_]+\] ([^(]+?)\s*\(_ssl", text)
    return "TLS failed: " + (said[1] if said else re.sub(r"[()\"',]+", " ", text).strip())
