"""Run a handler within its time limit, off the event loop when it is synchronous.

Python cannot stop a thread, so a synchronous handler that outlives its time
limit keeps its worker thread until it returns by itself; the caller has had its
408 long before. Such threads are counted. The pool is bounded, so stuck
handlers can only take so much, and when they hold every worker the runtime
reports itself unhealthy, so the kubelet restarts the pod, and refuses new calls
at once rather than letting them queue for a thread until their own limit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from kubeless_runtime.metrics import FunctionMetrics

logger = logging.getLogger("kubeless_runtime.invoking")


class TimeLimitExceededError(Exception):
    """A call ran past the function's time limit."""


class WorkersExhaustedError(Exception):
    """Every worker thread is held by a timed-out call, so none can take this one."""


def _run_sync(handler: Callable[..., Any], event: Any, context: dict[str, Any]) -> Any:
    try:
        return handler(event, context)
    except (StopIteration, GeneratorExit) as error:
        # asyncio cannot carry either out of a future: StopIteration is refused
        # outright, so the call would hang until its limit, and GeneratorExit
        # escapes the endpoint's handling. Re-raised as a plain failure instead.
        raise RuntimeError(f"the handler raised {type(error).__name__}") from error


class HandlerRunner:
    """Calls one handler with its time limit, on a bounded pool for sync handlers."""

    def __init__(
            self,
            handler: Callable[..., Any],
            *,
            is_async: bool,
            timeout: float,
            worker_threads: int,
            metrics: FunctionMetrics,
    ) -> None:
        self.handler = handler
        self.is_async = is_async
        self.timeout = timeout
        self.worker_threads = worker_threads
        self._metrics = metrics
        self._pool = ThreadPoolExecutor(worker_threads, thread_name_prefix="handler")
        self._lock = threading.Lock()
        self._stuck = 0

    @property
    def exhausted(self) -> bool:
        """Every worker thread is held by a handler whose call has timed out."""
        return not self.is_async and self._stuck >= self.worker_threads

    async def call(self, event: Any, context: dict[str, Any]) -> Any:
        # Only the limit's own expiry is a time-limit overrun: a handler may raise
        # TimeoutError itself (a slow upstream), and that is its failure, not ours.
        limit = asyncio.timeout(self.timeout)
        if self.is_async:
            try:
                async with limit:
                    result = await self.handler(event, context)
            except TimeoutError:
                if self._is_late(limit):
                    raise TimeLimitExceededError from None
                raise
            except Exception as error:
                if self._is_late(limit):
                    # It caught its cancellation at the limit (or blocked past it) and
                    # failed afterwards: the caller's answer is the late one.
                    raise TimeLimitExceededError from error
                raise
            if self._is_late(limit):
                # It swallowed the cancellation, or blocked past it, and finished late.
                raise TimeLimitExceededError
            return result

        if self.exhausted:
            raise WorkersExhaustedError
        future = self._pool.submit(_run_sync, self.handler, event, context)
        try:
            async with limit:
                return await asyncio.wrap_future(future)
        except TimeoutError:
            if not limit.expired():
                raise
            self._abandon(future)
            raise TimeLimitExceededError from None

    def _is_late(self, limit: asyncio.Timeout) -> bool:
        """Whether an async call ended past its limit, warning when it blocked the loop."""
        if limit.expired():
            return True
        deadline = limit.when()
        if deadline is None or asyncio.get_running_loop().time() <= deadline:
            return False
        # The limit never fired: the handler held the event loop past it, and every
        # other request waited meanwhile.
        logger.warning(
            "An async handler ran past its %gs time limit without giving way to the event "
            "loop (blocking code in an async def); every other request waited meanwhile. "
            "Make blocking handlers plain def.", self.timeout)
        return True

    def shutdown(self) -> None:
        # Stuck threads cannot be joined; waiting for them would hang the exit.
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _abandon(self, future: Future[Any]) -> None:
        # A call still queued is simply dropped; one already running holds its
        # thread until the handler returns, so it is counted until then.
        if future.cancel() or future.done():
            return
        with self._lock:
            self._stuck += 1
            stuck = self._stuck
        self._metrics.stuck_threads.set(stuck)
        logger.warning(
            "A handler is still running past its %g s limit; %d of %d worker threads "
            "are held by timed-out calls.", self.timeout, stuck, self.worker_threads,
        )
        future.add_done_callback(self._release)

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self._stuck -= 1
            stuck = self._stuck
        self._metrics.stuck_threads.set(stuck)
        logger.info("A timed-out handler has returned; %s.",
                    "no worker thread is held now" if stuck == 0
                    else "1 worker thread is still held" if stuck == 1
                    else f"{stuck} worker threads are still held")
