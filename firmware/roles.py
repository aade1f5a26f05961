"""Who may do what on the web: the manual's two roles (§7 "Password": Administrator, User).

The administrator may do everything. The user is the person at the desk: they may change
what the manual lets a desk user change (forwarding, DND, ring, volumes, phone book, call
settings) and nothing else (accounts, network, provisioning, firmware, others' passwords).

The rule has ONE source: the menu model (firmware/menus.py: TREE, the LCD's pages, and
WEB, the web's). A page's `role` there is what the LCD asks the advanced password for and
the web the administrator's sign-in; a page below an "admin" page is the administrator's
too, whatever its own role says (the LCD reaches it only through the password). So:
- a page is the user's when some path from a top page reaches it through user pages only;
- a setting is the user's when it is an entry of one of the user's pages, unless the entry
  itself says "admin" (Entry.role: the codec list on Audio, the emergency numbers on Call);
  every other setting (and every setting on no page at all) is the administrator's alone.
A setting moves to the user by putting it on a user page of the menu model: the LCD, the
web pages (`can_see`) and PATCH /api/settings (`may_change`) follow at once.
"""
from __future__ import annotations

import functools

ADMIN, USER = "admin", "user"
ROLES = (ADMIN, USER)


def _trees() -> dict[str, dict]:
    """The menu model's page trees: the LCD's (TREE) and the web's (WEB, when there is one)."""
    from firmware import menus
    return {"lcd": menus.TREE, **({"web": menus.WEB} if hasattr(menus, "WEB") else {})}


@functools.cache
def page_roles(tree: str = "lcd") -> dict[str, str]:
    """Every page's effective role in one tree ("lcd" or "web"): USER when a path of user
    pages reaches it from a top page (one no other page links to), else ADMIN."""
    pages = _trees()[tree]
    linked = {e.page for p in pages.values() for e in p.entries if e.page}
    roles: dict[str, str] = {}
    todo = [(name, USER) for name in pages if name not in linked]
    while todo:
        name, above = todo.pop()
        page = pages.get(name)
        if page is None:
            continue
        role = USER if above == USER and page.role == USER else ADMIN
        if roles.get(name) in (USER, role):
            continue                     # seen with this role or a more open one
        roles[name] = role
        todo += [(e.page, role) for e in page.entries if e.page]
    for name, page in pages.items():     # only in a cycle of links: the page's own role
        roles.setdefault(name, USER if page.role == USER else ADMIN)
    return roles


@functools.cache
def user_settings() -> frozenset[str]:
    """The setting keys the user role may change: the entries of the user's pages, on the
    LCD or the web (what a desk user changes on the phone without the advanced password,
    they change on the web too)."""
    return frozenset(e.setting for tree, pages in _trees().items()
                     for name, p in pages.items() if page_roles(tree)[name] == USER
                     for e in p.entries if e.setting and e.role != ADMIN)


def page_role(page, tree: str = "lcd") -> str:
    """The effective role of a page of the menu model: a Page (found in either tree), or a
    page name in `tree`."""
    if isinstance(page, str):
        return page_roles(tree).get(page, ADMIN)
    for name_of_tree, pages in _trees().items():
        for name, p in pages.items():
            if p is page:
                return page_roles(name_of_tree)[name]
    return USER if getattr(page, "role", ADMIN) == USER else ADMIN


def can_see(role: str, page, tree: str = "lcd") -> bool:
    """Whether `role` may open a page of the menu model (a Page, or its name in `tree`):
    the administrator every page, the user the user's pages."""
    return role == ADMIN or (role == USER and page_role(page, tree) == USER)


def setting_role(key: str) -> str:
    return USER if key in user_settings() else ADMIN


def may_change(role: str, key: str) -> bool:
    """Whether `role` may change the setting `key` (sign-in credentials are never changed
    through settings: ui/web/signin.py's password routes and `python -m firmware passwd`)."""
    return role == ADMIN or (role == USER and key in user_settings())


def refused(role: str, keys) -> list[str]:
    """The keys of `keys` that `role` may not change, in order."""
    return [k for k in keys if not may_change(role, k)]
