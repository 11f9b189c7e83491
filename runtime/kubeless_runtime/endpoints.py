"""The HTTP endpoint that turns a request into a handler call and back.

FastAPI reads an endpoint's parameters from its signature. The signature built
here declares every ``Params`` field as a query, header, path or cookie
parameter and the request model as the body, so FastAPI validates them and
documents them; the endpoint then hands the handler the event and context shapes
of the contract.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import time
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Body, Query, Request, Response
from fastapi import params as fastapi_params
from fastapi.exception_handlers import http_exception_handler
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from kubeless_runtime.invoking import (
    HandlerRunner,
    TimeLimitExceededError,
    WorkersExhaustedError,
)
from kubeless_runtime.loading import Function
from kubeless_runtime.metrics import FunctionMetrics

logger = logging.getLogger("kubeless_runtime.endpoints")

# Names of our own endpoint parameters; a Params field can never be called this.
_REQUEST = "kubeless_request__"
_BODY = "kubeless_body__"

# Statuses a handler's HTTPException may answer with; others break the HTTP server.
_ANSWERABLE_STATUSES = range(200, 600)

_PARAMETER_MARKERS = (
    fastapi_params.Query, fastapi_params.Header, fastapi_params.Path, fastapi_params.Cookie,
)


@dataclasses.dataclass(slots=True)
class Event:
    """What a POST, PUT, DELETE or PATCH handler receives as ``event``."""

    request: Request
    data: BaseModel | None
    params: Any


class ErrorBody(BaseModel):
    """The JSON body of every error the runtime answers itself."""

    detail: str


def json_error(status_code: int, detail: str) -> Response:
    return Response(
        content=ErrorBody(detail=detail).model_dump_json(),
        status_code=status_code,
        media_type="application/json",
    )


def build_endpoint(
        function: Function,
        *,
        runner: HandlerRunner,
        metrics: FunctionMetrics,
        context: dict[str, Any],
) -> Callable[..., Awaitable[Response]]:
    """An endpoint for ``function`` whose signature FastAPI can read."""
    is_get = function.request_model is None
    field_names = [field.name for field in dataclasses.fields(function.params)]

    async def endpoint(**arguments: Any) -> Response:
        request: Request = arguments.pop(_REQUEST)
        data = arguments.pop(_BODY, None)

        # Built inside the call's error handling: Params and the request model are
        # the function's code too, and may raise like its handler.
        def make_event() -> Any:
            params = function.params(**{name: arguments[name] for name in field_names})
            if is_get:
                request.state.params = params
                return request
            body = data
            if body is None and function.request_model is not None:
                body = function.request_model()  # an optional body that was left out
            return Event(request=request, data=body, params=params)

        return await _call(function, runner, metrics, request, make_event, context)

    endpoint.__signature__ = _signature(function)  # type: ignore[attr-defined]
    endpoint.__name__ = function.handler_name
    return endpoint


async def _call(
        function: Function,
        runner: HandlerRunner,
        metrics: FunctionMetrics,
        request: Request,
        make_event: Callable[[], Any],
        context: dict[str, Any],
) -> Response:
    metrics.calls.inc()
    metrics.in_flight.inc()
    started = time.perf_counter()
    status_code = 500
    # Every log line about a call carries these as structured fields too.
    where = {"function": function.name, "method": request.method, "path": request.url.path}
    try:
        result = await runner.call(make_event(), dict(context))
        response = _render(function, result, request, where)
        # Only a response the handler built itself can carry a header the server refuses.
        problem = _unsendable(response) if isinstance(result, Response) else None
        if problem is not None:
            logger.error("Function %r returned a response on %s %s that cannot be sent: %s.",
                         function.name, request.method, request.url.path, problem, extra=where)
            return json_error(500, "The function failed; its log has the details.")
        status_code = response.status_code
        return response
    except HTTPException as error:
        # The handler chose its answer; rendered here, as FastAPI would, so that an
        # answer that cannot be sent is still this call's failure.
        response = await _answer_http_exception(function, error, request, where)
        status_code = response.status_code
        return response
    except TimeLimitExceededError:
        status_code = 408
        metrics.timeouts.inc()
        logger.error("Function %r timed out after %g s on %s %s.", function.name,
                     runner.timeout, request.method, request.url.path, extra=where)
        return json_error(408, f"The function did not finish within its time limit "
                               f"({runner.timeout:g} s).")
    except WorkersExhaustedError:
        status_code = 503
        logger.error(
            "Function %r refused a call on %s %s: all %d worker threads are held by "
            "timed-out calls.", function.name, request.method, request.url.path,
            runner.worker_threads, extra=where)
        return json_error(503, f"All {runner.worker_threads} worker threads are held by "
                               "calls that exceeded their time limit; try again later.")
    except BaseException as error:
        # Whatever the handler raised is its own failure, sys.exit() and stray
        # KeyboardInterrupt or CancelledError included (uvicorn owns the signals).
        # Only a real cancellation of this call, at shutdown, goes on up.
        task = asyncio.current_task()
        if isinstance(error, asyncio.CancelledError) and task and task.cancelling():
            raise
        logger.exception("Function %r failed on %s %s.", function.name, request.method,
                         request.url.path, extra=where)
        return json_error(500, "The function failed; its log has the details.")
    finally:
        metrics.in_flight.dec()
        metrics.duration.observe(time.perf_counter() - started)
        if status_code >= 500 or status_code == 408:
            metrics.failures.inc()


async def _answer_http_exception(
        function: Function,
        error: HTTPException,
        request: Request,
        where: dict[str, str],
) -> Response:
    problem: str | None = "a response status must be from 200 to 599"
    if error.status_code in _ANSWERABLE_STATUSES:
        try:
            response = await http_exception_handler(request, error)
        except Exception as rendering:  # a detail that is not JSON, say
            problem = f"its detail cannot be sent as JSON: {rendering}"
        else:
            problem = _unsendable(response)
            if problem is None:
                return response
    logger.error("Function %r raised HTTPException(%d) on %s %s; %s.", function.name,
                 error.status_code, request.method, request.url.path, problem, extra=where)
    return json_error(500, "The function failed; its log has the details.")


def _unsendable(response: Response) -> str | None:
    """Why the HTTP server would drop the connection instead of sending ``response``."""
    for name, value in response.raw_headers:
        if any(character in name + value for character in (b"\r", b"\n", b"\0")):
            return f"the header {name.decode('latin-1')!r} has a line break or NUL in it"
    return None


def _render(
        function: Function, result: Any, request: Request, where: dict[str, str],
) -> Response:
    if isinstance(result, Response):
        return result
    model = function.response_model
    if not isinstance(result, model):
        try:
            result = model.model_validate(result, from_attributes=True)
        except ValidationError as error:
            fields = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in error.errors()
            )
            logger.error(
                "Function %r returned a result that does not fit %s on %s %s: %s.",
                function.name, model.__name__, request.method, request.url.path, fields,
                extra=where,
            )
            return json_error(500, "The function returned a result that does not fit "
                                   "its response model; its log has the details.")
    return Response(content=result.model_dump_json(by_alias=True),
                    media_type="application/json")


def _signature(function: Function) -> inspect.Signature:
    hints = typing.get_type_hints(function.params, include_extras=True)
    parameters = [inspect.Parameter(_REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    for field in dataclasses.fields(function.params):
        parameters.append(inspect.Parameter(
            field.name, inspect.Parameter.KEYWORD_ONLY,
            annotation=hints.get(field.name, Any), default=_marker(field),
        ))
    if function.request_model is not None:
        body = Body(None) if _all_optional(function.request_model) else Body()
        parameters.append(inspect.Parameter(
            _BODY, inspect.Parameter.KEYWORD_ONLY,
            annotation=function.request_model, default=body,
        ))
    return inspect.Signature(parameters)


def _marker(field: dataclasses.Field[Any]) -> Any:
    # Plain defaults become query parameters explicitly: left to FastAPI, a list
    # or model typed field would be read from the body instead.
    if isinstance(field.default, _PARAMETER_MARKERS):
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return Query(default_factory=field.default_factory)
    if field.default is dataclasses.MISSING:
        return Query()
    return Query(field.default)


def _all_optional(model: type[BaseModel]) -> bool:
    return not any(field.is_required() for field in model.model_fields.values())
