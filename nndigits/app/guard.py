"""Bad requests are one-line answers, never tracebacks: the app's error responses in one place.

A request that cannot be served gets a 4xx with ``{"detail": "<what is wrong>"}``;
a malformed or out-of-range setting gets 422 with ``"field"`` naming it.  Should
a bug still raise, ``OneLineErrors`` answers 500 with one line and logs one
line, so the server's log has no traceback and the server keeps serving.
"""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

log = logging.getLogger("nndigits.serve")


def problem(status: int, detail: str, **extra) -> JSONResponse:
    return JSONResponse({"detail": " ".join(str(detail).split()), **extra}, status_code=status)


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 naming the first bad field, e.g. ``eta: Input should be greater than 0``."""
    first = error.errors()[0]
    field = _field(first.get("loc", ()))
    message = first.get("msg", "invalid value")
    if first.get("type") == "value_error" and "error" in first.get("ctx", {}):  # a Bound's own words (chapter.py)
        message = str(first["ctx"]["error"])
    if first.get("type") == "json_invalid":
        field, message = "body", "the request body is not valid JSON"
    elif first.get("type") == "extra_forbidden":
        message = "is not a training setting (use hidden, eta, m, epochs, seed)"
    return problem(422, f"{field}: {message}", field=field)


class OneLineErrors:
    """ASGI middleware: an unexpected exception becomes a one-line 500 and one log line, not a traceback."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        started = False

        async def watch(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as error:
            line = " ".join(f"{type(error).__name__}: {error}".split())[:300]
            log.error("error serving %s: %s", scope.get("path"), line)
            if scope["type"] == "http" and not started:
                await problem(500, f"internal error: {line}")(scope, receive, send)
