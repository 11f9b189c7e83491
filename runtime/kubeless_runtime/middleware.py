"""ASGI middleware: the request-body limit and the one-line-per-request log.

Both are plain ASGI callables rather than Starlette's BaseHTTPMiddleware, which
would add a task and a memory stream to every request.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kubeless_runtime.endpoints import json_error

access_logger = logging.getLogger("kubeless_runtime.access")


class BodyLimitMiddleware:
    """Answers 413 to a request whose body is larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await json_error(413, self._detail())(scope, receive, send)
            return

        # A chunked body declares no length, so it is counted as it arrives.
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI passes an HTTPException raised while reading the
                    # body through to its handler, which answers it as JSON.
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited_receive, send)

    def _detail(self) -> str:
        return (f"The request body is larger than the limit of {self.max_bytes} bytes "
                f"set by FUNC_MAX_BODY_BYTES.")


class AccessLogMiddleware:
    """Logs method, path, status and duration once per HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not access_logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status_code = 500  # what the server answers if the app fails before sending

        async def recording_send(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            duration_ms = (time.perf_counter() - started) * 1000
            method, path = scope["method"], scope["path"]
            access_logger.info(
                "%s %s %d %.1fms", method, path, status_code, duration_ms,
                extra={"method": method, "path": path, "status": status_code,
                       "duration_ms": round(duration_ms, 3)},
            )
