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
