"""What every route module shares: the application's keys, JSON bodies and errors."""
from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent.parent / "static"     # ui/static

API = web.AppKey("api", object)          # firmware.api.Api: all the routes talk to
AUTH = web.AppKey("auth", object)        # ui.web.auth.Auth: sessions, throttle, hasher
SOCKETS = web.AppKey("sockets", set)     # open /ws streams, closed when the phone stops


def error(status: int, message: str, **extra) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def json_body(request: web.Request, example: str) -> dict:
    """The request's JSON object; 400 naming `example` for anything else."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=json.dumps(
            {"error": f"body must be JSON like {example}"}), content_type="application/json")
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps(
            {"error": f"body must be a JSON object like {example}"}),
            content_type="application/json")
    return body


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None when it is longer than `limit` (not read further)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def settings_refused(e, suffix: str = "") -> web.Response:
    """400 for a SettingsInvalid: every bad key with its reason."""
    return web.json_response({"error": f"{e}{suffix}", "errors": [
        {"key": p.key, "reason": p.reason} for p in e.problems]}, status=400)


# -- roles: who may use which route (what each role may change: firmware/roles.py) ------------

# set by ui/web/signin.py's guard on every signed-in request
ROLE = web.RequestKey("role", str)           # "admin" | "user" (firmware/roles.py)
SESSION_OF = web.RequestKey("session", object)   # the ui.web.auth.Session, None for Basic

# The routes the user role (the desk user) may use: the front panel (it is their phone: the
# LCD asks its advanced password for the administrator's menus itself), their own password,
# reading and changing the settings firmware/roles.py gives them, the call log and phone
# book. Every other route is the administrator's (403 for the user). A route module opens a
# route of its own to the user with @for_user (its handler then checks what the user may see,
# firmware.roles.can_see).
USER_ROUTES = frozenset({
    ("GET", "/"), ("POST", "/api/keys"), ("POST", "/api/hook"), ("POST", "/api/dial"),
    ("POST", "/api/page"), ("POST", "/api/diagnose"), ("GET", "/api/screen.png"),
    ("GET", "/api/screen.txt"), ("GET", "/api/leds"), ("GET", "/api/state"), ("GET", "/ws"),
    ("POST", "/api/sim/mic"), ("GET", "/api/sim/listen"),
    ("GET", "/api/settings"), ("PATCH", "/api/settings"),
    ("GET", "/api/calllog"), ("DELETE", "/api/calllog"), ("GET", "/api/phonebook"),
    ("GET", "/api/keys/state"),
})


def for_user(handler):
    """Mark a route's handler as open to the user role too (the handler decides the rest)."""
    handler.for_user = True
    return handler


def role_of(request: web.Request) -> str:
    """The role of the signed-in request ("admin" | "user"; ui/web/signin.py sets it)."""
    from firmware.roles import ADMIN
    return request.get(ROLE, ADMIN)


def route_open_to_user(request: web.Request) -> bool:
    """Whether the user role may use the route `request` goes to (an unknown path too: it
    answers 404 for everyone)."""
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    if resource is None:
        return True
    method = "GET" if request.method == "HEAD" else request.method
    return (method, resource.canonical) in USER_ROUTES or \
        getattr(info.handler, "for_user", False)


# -- plain HTML pages (forms that work without JavaScript: password, config guide) -------------

def html_page(title: str, body: str, *, status: int = 200) -> web.Response:
    """A small page of forms: `body` is HTML the caller escaped (html.escape)."""
    from html import escape
    doc = ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
           f'<title>deskphone — {escape(title)}</title>'
           '<meta name="viewport" content="width=device-width, initial-scale=1">'
           '<link rel="stylesheet" href="/static/forms.css"><link rel="icon" href="data:,">'
           f'</head>\n<body class="forms">\n{body}\n</body></html>\n')
    return web.Response(text=doc, status=status, content_type="text/html")


def form_field(name: str, label: str, value: str = "", *, kind: str = "text",
               problem: str = "", help: str = "", attrs: str = "") -> str:
    """One labelled input with its help line and, beside it, why its value was refused."""
    from html import escape
    if kind == "select":                     # attrs: the options' HTML
        control = f'<select name="{name}" id="f-{name}">{attrs}</select>'
    elif kind == "checkbox":
        control = (f'<input type="hidden" name="{name}" value="false">'
                   f'<input type="checkbox" name="{name}" id="f-{name}" value="true"'
                   f'{" checked" if value else ""}>')
    else:
        control = (f'<input type="{kind}" name="{name}" id="f-{name}" value="{escape(value)}"'
                   f' {attrs}>')
    return (f'<div class="field{" bad" if problem else ""}"><label for="f-{name}">'
            f'{escape(label)}</label>{control}'
            + (f'<span class="problem" role="alert">{escape(problem)}</span>' if problem else "")
            + (f'<small>{escape(help)}</small>' if help else "") + "</div>")


def csrf_field(request: web.Request) -> str:
    """The hidden CSRF field of a form (the signed-in session's token; ui/web/auth.py)."""
    sess = request.get(SESSION_OF)
    return f'<input type="hidden" name="csrf" value="{sess.csrf}">' if sess else ""
