/* The SIP gate's fast path: an ordinary INVITE let through to pjsua without running Python.
 *
 * firmware/sip/gate.py is the gate (docs/sip-gate.md): a pjsip module after the dialog layer
 * that refuses what must cost the phone nothing before pjsua opens media for it. Run in
 * Python it was the largest part of INVITE -> 180 (an INVITE arrives after the SIP thread
 * has slept, and Python run cold costs ~240 us there). This file is registered as that
 * module instead, and decides one thing only: "is this an INVITE the Python gate would let
 * in?" When it cannot say yes for sure, it hands the request to the Python gate (`slow`),
 * which decides as before. So the rules stay in gate.py; what is here is a subset of
 * "let in", never a refusal:
 *
 *   - armed: the Python gate said the calls alive and the media budget leave room for one
 *     more call (it re-arms on every SIP thread turn; a fast admission disarms);
 *   - the source is one the Python gate let an INVITE in from under the current incoming
 *     policy (trust, flood guard: the list is emptied when either changes);
 *   - "INVITE " starts the packet; a head ending in CRLF CRLF, plain ASCII names, no folded
 *     lines; the first CSeq is "<n> INVITE"; a Content-Length not past the packet's end;
 *   - no body, or an application/sdp offer of the shape check_offer() accepts: v=0 first,
 *     well-formed m= lines, c= IN IP4 with a dotted quad, an audio stream over RTP/AVP(F)
 *     with a c= line and a payload type whose codec is enabled.
 *
 * The offsets into pjsip_rx_data come from firmware/sip/native.py, set only once its start-up
 * probe has found the packet, its length and its source where that layout says.
 * Built by the Makefile (cc -O2 -shared -fPIC); without it the Python gate runs alone.
 * tests/test_fastgate.py holds this to gate.py's decisions, packet by packet.
 */
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#define MAX_PKT 4000         /* PJSIP_MAX_PKT_LEN */
#define NSRC 16              /* sources remembered */
#define SRC_LEN 46           /* pjsip_rx_data src_name */
#define MAX_STREAMS 16
#define MAX_RTPMAP 32
#define MAX_CODECS 32

typedef int (*fg_rx)(void *rdata);

static size_t packet_at, len_at, src_at;
static fg_rx slow;
/* read and written by gate.py in place (ctypes in_dll: no call on the INVITE's way) */
volatile int fg_armed;               /* may one INVITE be let in? */
volatile unsigned fg_admitted;       /* INVITEs let in so far */
/* The sources: read and written on the SIP thread only. A forget (any thread) only bumps
 * fg_forgets; the SIP thread empties the list when it sees the count move. */
static char sources[NSRC][SRC_LEN + 1];
static int nsources;
static int next_source;
static unsigned listed_under;        /* fg_forgets when the list was last emptied */
volatile unsigned fg_forgets;        /* read by gate.py (in_dll) before it judges a source */
static char codecs[MAX_CODECS][32];
static int ncodecs;

void fg_setup(size_t packet, size_t len, size_t src, fg_rx python_gate)
{
    packet_at = packet;
    len_at = len;
    src_at = src;
    slow = python_gate;
}

/* any thread */
void fg_forget_sources(void) { __atomic_add_fetch(&fg_forgets, 1, __ATOMIC_SEQ_CST); }

/* the SIP thread: the list as of the latest policy */
static int known_source(const char *ip)
{
    unsigned g = __atomic_load_n(&fg_forgets, __ATOMIC_SEQ_CST);
    if (g != listed_under) {
        nsources = 0;
        next_source = 0;
        listed_under = g;
    }
    for (int i = 0; i < nsources; i++)
        if (strncmp(sources[i], ip, SRC_LEN) == 0)
            return 1;
    return 0;
}

/* The SIP thread. seen: fg_forgets as gate.py read it before it judged `ip`; a forget
 * since (the policy it judged by is gone) and the source is not added. */
void fg_add_source(const char *ip, unsigned seen)
{
    if (!ip || !*ip || strlen(ip) > SRC_LEN || known_source(ip) || seen != listed_under)
        return;
    int i = nsources < NSRC ? nsources : next_source;
    next_source = (i + 1) % NSRC;
    strcpy(sources[i], ip);
    if (nsources < NSRC)
        nsources = nsources + 1;
}

/* "pcmu,pcma,g722": the enabled codecs' encoding names, lower case (Gate.codecs) */
int fg_set_codecs(const char *list)
{
    int n = 0;
    const char *p = list;
    while (p && *p && n < MAX_CODECS) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && len < sizeof codecs[0]) {
            memcpy(codecs[n], p, len);
            codecs[n][len] = 0;
            n++;
        }
        p = e ? e + 1 : NULL;
    }
    ncodecs = n;
    return n;
}

/* --- text helpers: [s, e) ranges ------------------------------------------------------ */

static int ws(char c) { return c == ' ' || c == '\t'; }

static void trim(const char **s, const char **e)
{
    while (*s < *e && ws(**s)) (*s)++;
    while (*e > *s && ws((*e)[-1])) (*e)--;
}

static int is(const char *s, const char *e, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(e - s) == n && memcmp(s, lit, n) == 0;
}

static int is_nocase(const char *s, const char *e, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(e - s) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c += 32;
        if (c != lit[i]) return 0;
    }
    return 1;
}

static int ascii(const char *s, const char *e)
{
    for (; s < e; s++)
        if ((unsigned char)*s >= 0x7f) return 0;
    return 1;
}

/* next whitespace-separated word of [*s, e); 0 when none */
static int word(const char **s, const char *e, const char **ws_, const char **we)
{
    while (*s < e && ws(**s)) (*s)++;
    if (*s >= e) return 0;
    *ws_ = *s;
    while (*s < e && !ws(**s)) (*s)++;
    *we = *s;
    return 1;
}

static int digits(const char *s, const char *e)
{
    if (s >= e) return 0;
    for (; s < e; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

#define HUGE_NUMBER 1000000000L   /* more than any packet, port or octet */

static long number(const char *s, const char *e)   /* digits() first; HUGE_NUMBER past it */
{
    long v = 0;
    for (; s < e; s++) {
        v = v * 10 + (*s - '0');
        if (v >= HUGE_NUMBER) return HUGE_NUMBER;
    }
    return v;
}

static int codec_enabled(const char *s, const char *e)
{
    for (int i = 0; i < ncodecs; i++)
        if (is(s, e, codecs[i])) return 1;
    return 0;
}

/* c= value: "IN IP4 a.b.c.d" with a plain dotted quad (others: the Python gate) */
static int connection_fast(const char *s, const char *e)
{
    const char *a, *b;
    if (!word(&s, e, &a, &b) || !is(a, b, "IN")) return 0;
    if (!word(&s, e, &a, &b) || !is(a, b, "IP4")) return 0;
    if (!word(&s, e, &a, &b)) return 0;
    const char *x, *y;
    if (word(&s, e, &x, &y)) return 0;             /* a fourth word */
    int parts = 0;
    const char *p = a;
    while (p <= b) {
        const char *q = p;
        while (q < b && *q != '.') q++;
        if (q - p < 1 || q - p > 3 || !digits(p, q) || (q - p > 1 && *p == '0')
                || number(p, q) > 255)
            return 0;
        parts++;
        p = q + 1;
    }
    return parts == 4;
}

struct stream {
    const char *m, *me;          /* the m= value */
    int c;
    int nmap;
    const char *pt[MAX_RTPMAP], *pte[MAX_RTPMAP];
    char enc[MAX_RTPMAP][32];
};

static const char *static_pt(const char *s, const char *e)
{
    if (is(s, e, "0")) return "pcmu";
    if (is(s, e, "3")) return "gsm";
    if (is(s, e, "8")) return "pcma";
    if (is(s, e, "9")) return "g722";
    return "";
}

/* check_offer(sdp) == (0, "") for sure? */
static int offer_fast(const char *s, const char *e)
{
    static struct stream st[MAX_STREAMS];        /* the SIP thread only */
    int nst = 0, session_c = 0, first = 1;
    for (const char *p = s; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x7f || (c < 0x20 && c != '\t' && c != '\n' && c != '\r'))
            return 0;
        if (c == '\r' && (p + 1 >= e || p[1] != '\n'))
            return 0;
    }
    const char *line = s;
    while (line < e) {
        const char *nl = memchr(line, '\n', (size_t)(e - line));
        const char *le = nl ? nl : e;
        const char *a = line, *b = le;
        line = nl ? nl + 1 : e;
        while (b > a && b[-1] == '\r') b--;
        trim(&a, &b);
        if (a == b) continue;
        if (first) {
            if (!is(a, b, "v=0")) return 0;
            first = 0;
            continue;
        }
        /* kind=value; a line without '=' is all kind, with no value (check_offer's
           partition): a bare "m" or "c" is a malformed line there */
        const char *eq = memchr(a, '=', (size_t)(b - a));
        if (!eq) eq = b;
        const char *v = eq < b ? eq + 1 : b;
        if (is(a, eq, "m")) {
            const char *q = v, *w1, *w1e, *w2, *w2e, *w3, *w3e, *w4, *w4e;
            if (!word(&q, b, &w1, &w1e) || !word(&q, b, &w2, &w2e) || !word(&q, b, &w3, &w3e)
                    || !word(&q, b, &w4, &w4e))
                return 0;
            const char *slash = memchr(w2, '/', (size_t)(w2e - w2));
            const char *pe = slash ? slash : w2e;
            if (!digits(w2, pe) || number(w2, pe) > 65535)
                return 0;
            if (nst == MAX_STREAMS) return 0;
            st[nst].m = v;
            st[nst].me = b;
            st[nst].c = 0;
            st[nst].nmap = 0;
            nst++;
        } else if (is(a, eq, "c")) {
            if (!connection_fast(v, b)) return 0;
            if (nst) st[nst - 1].c = 1;
            else session_c = 1;
        } else if (is(a, eq, "a") && b - v > 7 && memcmp(v, "rtpmap:", 7) == 0 && nst) {
            struct stream *t = &st[nst - 1];
            const char *pt = v + 7;
            const char *sp = memchr(pt, ' ', (size_t)(b - pt));
            const char *enc = sp ? sp + 1 : b, *ence = enc;
            while (ence < b && *ence != '/') ence++;
            if (t->nmap == MAX_RTPMAP || ence - enc >= 32) return 0;
            int k = t->nmap++;
            t->pt[k] = pt;
            t->pte[k] = sp ? sp : b;
            for (int i = 0; i < ence - enc; i++) {
                char ch = enc[i];
                t->enc[k][i] = (ch >= 'A' && ch <= 'Z') ? ch + 32 : ch;
            }
            t->enc[k][ence - enc] = 0;
        }
    }
    if (first || !nst) return 0;
    for (int i = 0; i < nst; i++) {
        const char *q = st[i].m, *kind, *kinde, *port, *porte, *proto, *protoe;
        word(&q, st[i].me, &kind, &kinde);
        word(&q, st[i].me, &port, &porte);
        word(&q, st[i].me, &proto, &protoe);
        const char *slash = memchr(port, '/', (size_t)(porte - port));
        if (!is_nocase(kind, kinde, "audio") || is(port, slash ? slash : porte, "0"))
            continue;
        if (!(session_c || st[i].c)) return 0;          /* the Python gate: 400 */
        if (!is_nocase(proto, protoe, "rtp/avp") && !is_nocase(proto, protoe, "rtp/avpf"))
            continue;
        const char *f, *fe;
        while (word(&q, st[i].me, &f, &fe)) {
            const char *enc = "";
            for (int k = st[i].nmap - 1; k >= 0; k--)           /* the last rtpmap wins */
                if ((size_t)(st[i].pte[k] - st[i].pt[k]) == (size_t)(fe - f)
                        && memcmp(st[i].pt[k], f, (size_t)(fe - f)) == 0) {
                    enc = st[i].enc[k];
                    break;
                }
            if (!*enc) enc = static_pt(f, fe);
            if (*enc && codec_enabled(enc, enc + strlen(enc))) return 1;
        }
    }
    return 0;
}

/* Would the Python gate let this packet in as an INVITE (sources and budget aside)? */
int fg_check(const char *pkt, size_t n)
{
    const char *p = pkt, *end = pkt + n;
    while (p < end && (*p == '\r' || *p == '\n')) p++;
    if (end - p < 7 || memcmp(p, "INVITE ", 7) != 0)
        return 0;
    const char *he = NULL;
    for (const char *q = p; q + 3 < end; q++)
        if (q[0] == '\r' && q[1] == '\n' && q[2] == '\r' && q[3] == '\n') { he = q; break; }
    if (!he) return 0;
    for (const char *q = p; q < he; q++) {
        unsigned char c = (unsigned char)*q;
        if (c == '\n' && q[-1] != '\r') return 0;
        if (c == '\r' && q[1] != '\n') return 0;
        if (c < 0x20 && c != '\t' && c != '\r' && c != '\n') return 0;
    }
    const char *body = he + 4;
    const char *cseq = NULL, *cseqe = NULL, *clen = NULL, *clene = NULL,
               *ctype = NULL, *ctypee = NULL;
    const char *line = memchr(p, '\n', (size_t)(he - p));
    line = line ? line + 1 : he;                        /* past the request line */
    while (line < he) {
        const char *le = line;
        while (le < he && *le != '\r') le++;
        const char *a = line;
        line = le + 2;
        if (ws(*a)) return 0;                           /* folded: the Python gate */
        const char *colon = memchr(a, ':', (size_t)(le - a));
        if (!colon) continue;
        const char *ns = a, *ne = colon, *vs = colon + 1, *ve = le;
        if (!ascii(ns, ne)) return 0;
        trim(&ns, &ne);
        trim(&vs, &ve);
        if (!cseq && is_nocase(ns, ne, "cseq")) {
            cseq = vs; cseqe = ve;
            if (!ascii(vs, ve)) return 0;
        } else if (!clen && (is_nocase(ns, ne, "content-length") || is_nocase(ns, ne, "l"))) {
            clen = vs; clene = ve;
            if (!ascii(vs, ve)) return 0;
        } else if (!ctype && (is_nocase(ns, ne, "content-type") || is_nocase(ns, ne, "c"))) {
            ctype = vs; ctypee = ve;
            if (!ascii(vs, ve)) return 0;
        }
    }
    if (!cseq) return 0;
    const char *q = cseq, *w1, *w1e, *w2, *w2e, *w3, *w3e;
    if (!word(&q, cseqe, &w1, &w1e) || !word(&q, cseqe, &w2, &w2e)
            || word(&q, cseqe, &w3, &w3e) || !is(w2, w2e, "INVITE"))
        return 0;
    size_t blen = (size_t)(end - body);
    const char *sdp_end = end;
    if (clen && digits(clen, clene)) {
        long cl = number(clen, clene);
        if (cl >= HUGE_NUMBER || (size_t)cl > blen) return 0;
        sdp_end = body + cl;
    }
    const char *b = body, *be = end;
    while (b < be && (ws(*b) || *b == '\r' || *b == '\n' || *b == '\v' || *b == '\f')) b++;
    if (b == be) return 1;                              /* no offer: nothing to check */
    if (!ctype) return 0;
    const char *ts = ctype, *te = memchr(ctype, ';', (size_t)(ctypee - ctype));
    if (!te) te = ctypee;
    trim(&ts, &te);
    if (!is_nocase(ts, te, "application/sdp")) return 0;
    return offer_fast(body, sdp_end);
}

/* The module's on_rx_request: pjsip calls it for every request outside a dialog. */
int fg_on_rx_request(void *rdata)
{
    if (!slow) return 0;
    if (!fg_armed) return slow(rdata);
    const char *base = rdata;
    ssize_t n = *(const ssize_t *)(base + len_at);
    if (n <= 0 || n > MAX_PKT) return slow(rdata);
    char src[SRC_LEN + 1];
    memcpy(src, base + src_at, SRC_LEN);
    src[SRC_LEN] = 0;
    if (!known_source(src) || !fg_check(base + packet_at, (size_t)n))
        return slow(rdata);
    fg_armed = 0;
    fg_admitted++;
    return 0;
}
