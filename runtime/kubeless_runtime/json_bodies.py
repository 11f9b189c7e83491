"""Request bodies read as strict JSON: only what JSON and a Python str can carry.

Python's JSON reader accepts ``NaN`` and ``Infinity``, reads ``1e999`` as
infinity and turns a lone ``\\ud800`` escape into a string that cannot be encoded
again. A model would take them, and the answer would then carry ``null`` or fail
to render. They are refused as malformed JSON is: a 422 naming what was sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from fastapi import Request, Response
from fastapi.routing import APIRoute

# A \uD800-\uDFFF escape: only a lone one is wrong, so bodies with none skip the check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def loads(text: str) -> Any:
    """``json.loads``, refusing non-finite numbers and unpaired surrogates."""

    def refuse(why: str) -> NoReturn:
        raise json.JSONDecodeError(f"{why}; send finite numbers and valid text", text, 0)

    def constant(token: str) -> Any:
        refuse(f"{token} is not a JSON number")

    def finite(token: str) -> float:
        value = float(token)
        if not math.isfinite(value):
            refuse(f"{_short(token)} is beyond a 64-bit float")
        return value

    def whole(token: str) -> int:
        try:
            return int(token)
        except ValueError:  # more digits than Python converts
            refuse(f"a whole number of {len(token)} digits is too long")

    value = json.loads(text, parse_constant=constant, parse_float=finite, parse_int=whole)
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            refuse("a \\u escape names half of a surrogate pair, which is not text")
    return value


def _short(token: str) -> str:
    return token if len(token) <= 24 else f"{token[:12]}...{token[-8:]}"


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads((await self.body()).decode("utf-8"))
        return self._json


class StrictJSONRoute(APIRoute):
    """The function's route: its request is a :class:`StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler
