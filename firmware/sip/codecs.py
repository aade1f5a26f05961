"""Audio codecs: which ones the phone offers and accepts, in what order (manual §7 "Audio":
"enable/disable the desired codecs"; the setting sip.codecs).

A codec is named as pjsua's codecSetPriority takes it: its id without the channel count
(G722, PCMA, PCMU, speex/16000); a name without the clock rate ("speex") is every rate of
it. The list is the Enabled list of the manual's Audio page, first = preferred: the SIP
thread gives its first codec priority 254, the next 253..., every codec pjsua has that is
not listed 0 — disabled: not in our offers or answers, and an offer with nothing else is
refused 488 before it rings (firmware/sip/gate.py's check_offer; Gate.codecs follows).
The schema can check only the spelling against KNOWN (what pjsua can be built with); a
name this build lacks (G729 in the x86 wheel) is logged by the engine and skipped.

Pure: no pjsua2 here, so the settings schema can check names without loading pjsip.
"""
from __future__ import annotations

import re

# codecs pjsua can be built with (pjmedia-codec), by the name codecSetPriority matches;
# the manual's phones have G.722, G.711A, G.711U, G.723 and G.729A
KNOWN = ("G722", "PCMA", "PCMU", "G729", "G7231", "GSM", "iLBC", "speex", "opus", "AMR",
         "AMR-WB", "G7221", "L16", "BV16", "BV32", "SILK")
_KNOWN_LOWER = {name.lower(): name for name in KNOWN}

# the manual's names for the web's lists (the rest are shown as they are named)
LABELS = {"G722": "G.722", "PCMA": "G.711A", "PCMU": "G.711U", "G729": "G.729A",
          "G7231": "G.723", "G7221": "G.722.1"}

# the factory list: the desk phone's codecs first (pjsua would put Speex first: it smears a
# steady tone and is not what a PBX expects), then the others pjsua2's wheel has, in the
# order pjsua itself ranks them — what the phone offered before the list was a setting
FACTORY = ("G722", "PCMA", "PCMU", "speex/16000", "speex/8000", "speex/32000", "iLBC", "GSM")

TOP = 254          # priority of the first codec (255 is pjsua's "highest", left free)


def check_name(value: str) -> str:
    """A codec name of sip.codecs: a known codec, optionally /clock rate (speex/16000), in
    any case; returned as KNOWN spells it, so the saved list and the exports that map it
    to Escene's names (provisioning/escene.py) see one spelling."""
    base, sep, rate = value.partition("/")
    if base.lower() not in _KNOWN_LOWER or (sep and not re.fullmatch(r"[0-9]{4,6}", rate)):
        raise ValueError(f"'{value}' is not a codec name: use {', '.join(KNOWN)} (a clock "
                         f"rate may follow, e.g. speex/16000)")
    return _KNOWN_LOWER[base.lower()] + sep + rate


def matches(name: str, codec_id: str) -> bool:
    """Does the name select this pjsua codec id ("PCMU" selects "PCMU/8000/1")?"""
    name, codec_id = name.lower(), codec_id.lower()
    return codec_id == name or codec_id.startswith(name + "/")


def priorities(codec_ids: list[str], names: tuple[str, ...]) -> tuple[dict[str, int], list[str]]:
    """({codec id: pjsua priority} for every id, [names that select no id]). The first
    name that selects an id gives its rank; ids no name selects get 0 (disabled)."""
    out = {cid: 0 for cid in codec_ids}
    missing = []
    for rank, name in enumerate(names):
        hit = False
        for cid in codec_ids:
            if matches(name, cid):
                hit = True
                if not out[cid]:
                    out[cid] = max(1, TOP - rank)
        if not hit:
            missing.append(name)
    return out, missing


def offered(prio: dict[str, int]) -> frozenset[str]:
    """The encoding names (lower case, as SDP's rtpmap has them) of the enabled codecs:
    what the gate takes in an offer."""
    return frozenset(cid.split("/", 1)[0].lower() for cid, p in prio.items() if p)
