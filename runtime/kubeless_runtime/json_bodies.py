"""Request bodies read as strict JSON: no NaN, Infinity or numbers beyond a float.

Python's JSON reader accepts ``NaN`` and ``Infinity`` and reads ``1e999`` as
infinity; a model with ``price: float`` would then take them, and the answer would
carry them back as ``null``. JSON has no such numbers, so they are refused the way
malformed JSON is: a 422 naming what was sent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            text = (await self.body()).decode("utf-8")

            def refuse(token: str) -> float:
                raise json.JSONDecodeError(
                    f"{token} is not a JSON number; send a finite number", text, 0)

            def finite(token: str) -> float:
                value = float(token)
                if not math.isfinite(value):
                    raise json.JSONDecodeError(
                        f"{token} is beyond a 64-bit float; send a finite number", text, 0)
                return value

            self._json = json.loads(text, parse_constant=refuse, parse_float=finite)
        return self._json


class StrictJSONRoute(APIRoute):
    """The function's route: its request is a :class:`StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler
