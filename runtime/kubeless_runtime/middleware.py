"""ASGI middleware: the request-body limit, the one-line-per-request log, and the
last-resort JSON answer.

All are plain ASGI callables rather than Starlette's BaseHTTPMiddleware, which
would add a task and a memory stream to every request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
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


class UnexpectedErrorMiddleware:
    """Answers whatever escapes the app, before its response starts, with ``answer``.

    Starlette's own last resort answers in plain text, lets BaseExceptions through
    and re-raises, so the server logs every such error a second time.
    """

    def __init__(self, app: ASGIApp, *,
                 answer: Callable[[Request, BaseException], Response]) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        is_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal is_started
            if message["type"] == "http.response.start":
                is_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BaseException as error:
            task = asyncio.current_task()
            is_cancelled = (isinstance(error, asyncio.CancelledError)
                            and task is not None and task.cancelling() > 0)
            if is_started or is_cancelled:
                raise  # nothing can be answered any more, or the server is stopping
            await self.answer(Request(scope), error)(scope, receive, send)
