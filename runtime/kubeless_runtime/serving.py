"""Start uvicorn on the app for one function, and stop it gracefully."""

from __future__ import annotations

import logging
import math
import socket

import uvicorn

from kubeless_runtime import application, loading, logs
from kubeless_runtime.contract import ContractError
from kubeless_runtime.settings import Settings

logger = logging.getLogger("kubeless_runtime")

# Seconds beyond the time limit that a SIGTERM waits for calls in flight: no call
# can legitimately run longer than the limit, and a little more lets it answer.
_SHUTDOWN_GRACE = 2.0


def serve(settings: Settings) -> int:
    """Serve until stopped; the exit status is 1 for a module that breaks the
    contract and 2 for an address that cannot be listened on."""
    logs.configure(log_format=settings.log_format, level=settings.log_level)
    try:
        function = loading.load(
            settings.module_path, handler=settings.handler,
            install_volume=settings.install_volume,
        )
    except ContractError as error:
        for violation in error.violations:
            logger.error("%s", violation.format(error.filename))
        count = len(error.violations)
        logger.error("%s cannot be served: %s above.", error.filename,
                     "the problem" if count == 1 else f"the {count} problems")
        return 1

    try:
        app = application.create_app(function, settings)
    except Exception as error:
        # FastAPI refuses some Params types only when the route is built; the
        # checker reports the common ones, this catches the rest in one line.
        logger.error("%s cannot be served: FastAPI refused its route: %s",
                     function.filename, " ".join(str(error).split()))
        return 1
    problem = _listen_problem(settings.host, settings.port)
    if problem is not None:
        # uvicorn would report it only after starting the app, among its startup lines.
        logger.error("Cannot listen on %s:%d: %s; choose another --port (or FUNC_PORT) "
                     "or --host.", settings.host, settings.port, problem)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our own handlers, set up above
        access_log=False,  # AccessLogMiddleware writes one line per request
        server_header=False,
        timeout_graceful_shutdown=math.ceil(settings.timeout + _SHUTDOWN_GRACE),
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


def _listen_problem(host: str, port: int) -> str | None:
    """Why the server could not bind ``host:port`` now, or None if it could."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As uvicorn binds: a port left in TIME_WAIT by a previous run is usable.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        return (error.strerror or str(error)).lower()
    return None
