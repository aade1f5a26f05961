"""Function setting > Expansion and View status > Expansion on the LCD (manual §6 "Expansion
Installation", "Expansion Settings", "View status"; §7 "Expansion Module", "Programmable
Keys"): each key of an expansion module (32 each, up to 6) and the phone's 12 memory keys
P1-P12 set from the keypad: Mode, Account, Name, Number, then "Submit changes".

"Installed" on this phone: no board file declares an expansion port, and nothing detects a
module; a module is in use once a key of it is set (the sim board's front panel then draws
it, firmware/features/memkeys.py `modules`). The Install entry says so on the screen.

The pages are the menu walker's (firmware/features/menu.py: arrows, OK, C, the choice list,
the text editor), with this module as their owner (`Menus.own`): it builds them from the
key layout and is asked what OK on an entry does and what a typed value becomes. A key's
changes wait in `draft` for "Submit changes" (as a SIP account page); leaving with changes
(Back, C, MENU) asks "Submit changes?" (`changed`), as an account page does. Submit
saves through the same path and checks as `PUT /api/keys/layout` (memkeys
`replace_layout`: `check_layout`, DATA/keys.json written atomically, the keys and BLF
subscriptions follow at once); a refusal is shown with its reason, nothing saved.
"""
from __future__ import annotations

import logging
import re

from firmware.call.state import MenuPage
from firmware.events import PageRequested
from ui.textentry import TextEntry

log = logging.getLogger("deskphone.expansion")

OWNER = "expansion"                   # the page keys this module draws: "expansion..."
MODULES, MODULE_KEYS, MEMORY_KEYS = 6, 32, 12     # provisioning/keys.py (not imported at start)
# the manual's five modes first, then the others memkeys does (not "group": no key action)
MODES = (("", "None"), ("speed_dial", "Speed dial"), ("blf", "Asterisk BLF"),
         ("speed_dial_prefix", "Speed dial prefix"), ("dtmf", "DTMF"), ("bla", "BLA"),
         ("paging", "Paging"), ("intercom", "Intercom"), ("call_park", "Call park"),
         ("pickup", "Pickup"), ("ldap", "LDAP"))
SHORT = {"speed_dial": "Dial", "blf": "BLF", "speed_dial_prefix": "Prefix", "dtmf": "DTMF",
         "bla": "BLA", "paging": "Page", "intercom": "Intercom", "call_park": "Park",
         "pickup": "Pickup", "group": "Group", "ldap": "LDAP"}
_TYPE_WORD = re.compile(r"\b(?:(an?) )?(" + "|".join(t for t, _ in MODES if t) + r"|group)\b")


def in_words(problem: str) -> str:
    """check_layout's reason as the Mode list says it ("a blf key needs a number" -> "an
    Asterisk BLF key needs a number"): the LCD's and the web's key pages show it."""
    names = dict(MODES) | {"group": "Group"}

    def word(m: re.Match) -> str:
        name = names[m.group(2)]
        article = ("an " if name[0] in "AEIOU" else "a ") if m.group(1) else ""
        return article + name
    return _TYPE_WORD.sub(word, problem)


FIELDS = ("type", "account", "label", "number")     # the key page's entries, in order
ACCOUNTS = (None, 1, 2, 3)                          # None: the phone chooses (Escene 127)
MAX_TEXT = 64


def setup(ctx) -> "Expansion":
    """The feature module's entry: pages of the menu (nothing to close)."""
    return Expansion(ctx)


def key_name(module: int, index: int) -> str:
    """'p3' on the phone (module 0), 'e1.5' for key 5 of module 1 (provisioning.keys)."""
    return f"p{index + 1}" if module == 0 else f"e{module}.{index + 1}"


def _account(value) -> str:
    return f"Line {value}" if value else "Auto"


def _mode(value: str) -> str:
    return dict(MODES).get(value, value)


class Expansion:
    def __init__(self, ctx):
        self.ctx, self.state = ctx, ctx.state
        self.menu = ctx.provided["menu"]          # the walker (firmware/features/menu.py)
        self.menu.own(OWNER, self)
        self.module = 0                           # the module whose list is open (0: P keys)
        self.key = ""                             # the key whose page is open: "e1.5"
        self.draft: dict = {}                     # that key's values until Submit
        self.stored: dict = {}                    # ... and as they are saved
        ctx.bus.on(PageRequested, self.on_page)
        sim = ctx.board_spec.get("keypad", {}).get("driver") == "sim" or \
            ctx.board_spec.get("board", {}).get("name", "").lower().startswith("simulated")
        self.install = (
            "The sim board's front panel then shows it; press its keys there." if sim else
            "This board has no expansion port: press a module key through the web API.")

    # -- the layout ------------------------------------------------------------------------

    def keys(self):
        """The programmable keys feature (set up once the first REGISTER has its answer)."""
        return self.ctx.provided.get("memkeys")

    def memory(self) -> list:
        keys = self.keys()
        return list(keys.layout.memory) if keys is not None and keys.layout else []

    def _set(self, module: int) -> dict:
        """Key name -> its MemoryKey, on `module` (0: P1-P12)."""
        return {k.name: k for k in self.memory() if k.module == module}

    # -- pages -----------------------------------------------------------------------------

    def on_page(self, ev: PageRequested) -> None:
        owner, _, page = ev.page.partition(":")
        if owner != OWNER:
            return
        if self.keys() is None or page == "status":     # View status > Expansion
            self.state.menu.append(MenuPage("expansion.status", "Expansion",
                                            self.status_lines(), text=True))
        else:                                     # Function setting > Expansion
            self.state.menu.append(MenuPage(OWNER, "Expansion", [], data=[]))
            self.refresh()

    def status_lines(self) -> list[str]:
        """View status > Expansion: the modules in use, how many keys each has set, and
        the keys whose lamp cannot work, with why (no number, no server on that line)."""
        keys = self.keys()
        if keys is None:                  # until the first REGISTER has its answer
            return ["Programmable keys start once the lines have registered"]
        memory = self.memory()
        used = sorted({k.module for k in memory if k.module > 0})
        lines = [f"Modules in use: {len(used)} of {MODULES}"]
        lines += [f"Module {m}: {sum(k.module == m for k in memory)} of {MODULE_KEYS} keys"
                  for m in used]
        lines.append(f"P1-P12: {sum(k.module == 0 for k in memory)} of {MEMORY_KEYS} keys")
        return lines + [f"{k.name}: {keys.blf.why(k.name)}" for k in memory
                        if keys.blf.why(k.name)]

    def refresh(self) -> None:
        """The values on the right of the pages of ours that are open."""
        for page in self.state.menu:
            if page.key == OWNER:
                counts = [len(self._set(m)) for m in range(MODULES + 1)]
                page.items = ["Install", "Memory keys",
                              *(f"Module {m}" for m in range(1, MODULES + 1))]
                page.data = ["", f"{counts[0]}/{MEMORY_KEYS}",
                             *(f"{n}/{MODULE_KEYS}" if n else "" for n in counts[1:])]
            elif page.key == "expansion.module":
                keys = self._set(self.module)
                for i in range(len(page.items)):
                    k = keys.get(key_name(self.module, i))
                    mode = SHORT.get(k.type, k.type) if k else ""
                    what = k.label or k.number if k else ""       # an LDAP key: neither
                    page.data[i] = f"{mode}: {what}" if what else mode
            elif page.key == "expansion.key":
                d = self.draft
                page.data = [_mode(d["type"]), _account(d["account"]),
                             d["label"] or "(none)", d["number"] or "(none)", ""]

    def _title(self) -> str:
        return f"Module {self.module}" if self.module else "Memory keys"

    def open_module(self, module: int) -> None:
        self.module = module
        n = MODULE_KEYS if module else MEMORY_KEYS
        items = [f"Key {i}" if module else f"P{i}" for i in range(1, n + 1)]
        self.state.menu.append(MenuPage("expansion.module", self._title(), items,
                                        data=[""] * n))
        self.refresh()

    def open_key(self, index: int) -> None:
        """A key's page; its values from the layout, kept in `draft` until Submit."""
        self.key = key_name(self.module, index)
        k = self._set(self.module).get(self.key)
        self.draft = {"type": k.type if k else "", "account": k.account if k else None,
                      "label": k.label if k else "", "number": k.number if k else ""}
        self.stored = dict(self.draft)
        title = f"Module {self.module} Key {index + 1}" if self.module else f"P{index + 1}"
        self.state.menu.append(MenuPage("expansion.key", title, ["Mode", "Account", "Name",
                                                                 "Number", "Submit changes"]))
        self.refresh()

    # -- what the walker asks --------------------------------------------------------------

    def enter(self, page: MenuPage, index: int) -> None:
        """OK (or a digit) on entry `index` of a page of ours."""
        if page.key == OWNER:
            if index == 0:
                self.state.menu.append(MenuPage("expansion.install", "Install", [
                    "Modules are not detected: a module is in use once a key of it is set.",
                    self.install, "Up to 6 modules of 32 keys."], text=True))
            else:
                self.open_module(index - 1)
        elif page.key == "expansion.module":
            self.open_key(index)
        elif page.kind == "choice":               # Mode or Account picked
            self.draft[page.key.rpartition(".")[2]] = page.data[index]
            self.menu.back()
            self.refresh()
        elif page.key == "expansion.key":
            self._field(index)

    def changed(self, page: MenuPage) -> bool:
        """The walker asks before leaving a page (Back, C, MENU): a key page with changes
        not submitted asks "Submit changes?" as an account page does."""
        return page.key == "expansion.key" and self.draft != self.stored

    def _field(self, index: int) -> None:
        if index >= len(FIELDS):
            if self.submit():
                self.menu.back()
            return
        field, d = FIELDS[index], self.draft
        key, label = f"expansion.key.{field}", ["Mode", "Account", "Name", "Number"][index]
        if field in ("type", "account"):
            values = [v for v, _ in MODES] if field == "type" else list(ACCOUNTS)
            shown = [_mode(v) if field == "type" else _account(v) for v in values]
            self.state.menu.append(MenuPage(key, label, shown, kind="choice", data=values,
                                            index=values.index(d[field])
                                            if d[field] in values else 0))
            return
        # a number is typed as dialled (0-9 * #), but a paging key's multicast address
        paging = field == "number" and d["type"] == "paging"
        text = d[field]
        editor = TextEntry(text, max_len=MAX_TEXT,
                           kind="dial" if field == "number" and not paging else "text",
                           mode="123" if field == "number" or text.isdigit() else None)
        hint = ("The key's name on the screen and the front panel" if field == "label" else
                "An extension, or a multicast address as 224.0.1.1:5000" if paging else
                "The number to dial, watch or send: 0-9 * # as dialled")
        self.state.menu.append(MenuPage(key, label, [hint], kind="edit", data=[editor, ""]))

    def save(self, page: MenuPage, text: str) -> None:
        """OK or Save on the Name or Number editor: into the draft (checked at Submit)."""
        self.draft[page.key.rpartition(".")[2]] = text.strip()
        self.menu.back()
        self.refresh()

    def submit(self) -> bool:
        """Submit changes (the entry, or OK on the walker's "Submit changes?"): the whole
        layout with this key as drafted, through memkeys' replace_layout (PUT
        /api/keys/layout's path). Refused: the reason on a page, nothing saved, False."""
        keys, d = self.keys(), self.draft
        doc = keys.layout.to_json()               # the other keys as they are
        doc["memory"] = [e for e, k in zip(doc["memory"], keys.layout.memory)
                         if k.name != self.key]
        if d["type"]:
            doc["memory"].append({"key": self.key, **d})
        try:
            count, problems = keys.replace_layout(doc)
        except OSError as e:
            problems = [f"{self.key}: cannot write the key file ({e.strerror or e})"]
        if problems:                  # "memory[3] (e1.2): number must ..." -> "e1.2: ..."
            why = in_words(re.sub(r"^memory\[\d+\] \((\S+)\)", r"\1", problems[0]))
            log.info("LCD: key %s refused: %s", self.key, problems[0])
            self.state.menu.append(MenuPage("expansion.refused", "Not saved",
                                            [why, "C: back to the key"], text=True))
            return False
        log.info("LCD: key %s set (%s; %d keys)", self.key, d["type"] or "none", count)
        self.stored = dict(d)
        self.refresh()
        self.state.notice = f"Key {self.key} saved"
        return True
