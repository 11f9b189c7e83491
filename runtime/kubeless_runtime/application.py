"""Build the FastAPI app that serves one loaded function.

Everything a request needs is decided here, once: the route, its OpenAPI
description, the handler's context, the metrics it counts into.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from kubeless_runtime import endpoints, metrics
from kubeless_runtime.endpoints import ErrorBody, json_error
from kubeless_runtime.invoking import HandlerRunner
from kubeless_runtime.json_bodies import StrictJSONRoute
from kubeless_runtime.loading import Function
from kubeless_runtime.middleware import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    UnexpectedErrorMiddleware,
)
from kubeless_runtime.settings import Settings

logger = logging.getLogger("kubeless_runtime")


def create_app(function: Function, settings: Settings) -> FastAPI:
    function_metrics = metrics.FunctionMetrics(
        function.rules.http_method, worker_threads=settings.worker_threads
    )
    runner = HandlerRunner(
        function.handler,
        is_async=function.is_async,
        timeout=settings.timeout,
        worker_threads=settings.worker_threads,
        metrics=function_metrics,
    )
    draining = False

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal draining
        logger.info(
            "Serving function %r (%s %s, handler %s) with a %g s time limit.",
            function.name, function.rules.http_method, function.path,
            function.handler_name, settings.timeout,
        )
        yield
        draining = True
        runner.shutdown()
        logger.info("Function %r stopped.", function.name)

    app = FastAPIOffline(
        title=function.name,
        version=function.version,
        description=f"Served by kubeless-fastapi from `{function.handler_name}` "
                    f"in `{settings.module_name}.py`.",
        lifespan=lifespan,
    )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        # Live unless stuck handlers hold every worker thread: then only a
        # restart frees them, and failing liveness asks the kubelet for one.
        if runner.exhausted:
            return json_error(503, f"All {runner.worker_threads} worker threads are held "
                                   f"by handlers that exceeded their time limit.")
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        if draining or runner.exhausted:
            return json_error(503, "The function is not accepting calls.")
        return Response(b'{"status":"ready"}', media_type="application/json")

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(function_metrics.render(), media_type=metrics.CONTENT_TYPE)

    # Kubeless's keys, built once; each call gets its own copy.
    context: dict[str, Any] = {
        "function-name": function.handler_name,
        "timeout": settings.timeout,
        "runtime": settings.runtime,
        "memory-limit": settings.memory_limit,
    }
    function_endpoint = endpoints.build_endpoint(
        function, runner=runner, metrics=function_metrics, context=context)
    app.router.add_api_route(
        function.path,
        function_endpoint,
        methods=[function.rules.http_method],
        summary=function.summary,
        response_model=function.response_model,
        response_description=function.response_description,
        responses={
            408: {"model": ErrorBody, "description": "The call exceeded the time limit."},
            413: {"model": ErrorBody, "description": "The request body is too large."},
            500: {"model": ErrorBody, "description": "The function failed."},
            # Only a plain def handler runs on the thread pool that calls past their
            # limit can hold.
            **({} if function.is_async else {503: {
                "model": ErrorBody,
                "description": "Every worker thread is held by calls past their time limit.",
            }}),
        },
        operation_id=function.handler_name,
        route_class_override=StrictJSONRoute,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        # FastAPI's own answer, except that a NaN or Infinity the caller sent (Python's
        # JSON reader accepts them) is echoed as a string: JSON has no such numbers,
        # and rendering them would turn the caller's 422 into our 500.
        detail = _finite(jsonable_encoder(error.errors()))
        return JSONResponse(status_code=422, content={"detail": detail})

    def unexpected_error(request: Request, error: BaseException) -> Response:
        # Handler failures are answered in the endpoint; reaching this means a
        # failure around it. The caller still gets JSON, the log gets the trace.
        if request.scope.get("endpoint") is function_endpoint:
            # FastAPI builds the request model before the endpoint runs, so a model
            # validator raising something other than a validation error ends here.
            # That is the function's code failing, and counted as such.
            function_metrics.calls.inc()
            function_metrics.failures.inc()
            logger.error("Function %r failed reading the request on %s %s.", function.name,
                         request.method, request.url.path, exc_info=error)
            return json_error(500, "The function failed; its log has the details.")
        logger.error("Unexpected error on %s %s.", request.method, request.url.path,
                     exc_info=error)
        return json_error(500, "Internal server error.")

    # Innermost of the three, so that the access log records the 500 it answers.
    app.add_middleware(UnexpectedErrorMiddleware, answer=unexpected_error)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware)
    return app


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its JSON-like spelling."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value
