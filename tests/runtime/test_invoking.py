"""Time limits and concurrency: slow handlers never stall the server."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.runtime.conftest import ServeFunction


@pytest.mark.parametrize("handler", ["get_order", "get_order_async"], ids=["sync", "async"])
def test_call_past_the_limit_is_answered_408_on_time_and_the_next_is_fine(
        serve: ServeFunction, handler):
    runtime = serve("orders", handler, "--timeout", "1")

    started = time.monotonic()
    slow = runtime.client.get("/1", params={"sleep": 2})
    elapsed = time.monotonic() - started
    quick = runtime.client.get("/1")

    assert slow.status_code == 408
    assert slow.json() == {
        "detail": "The function did not finish within its time limit (1 s)."
    }
    assert 0.9 <= elapsed < 1.8
    assert quick.status_code == 200
    assert runtime.client.get("/healthz").status_code == 200
    metrics = runtime.client.get("/metrics").text
    assert 'function_timeouts_total{method="GET"} 1.0' in metrics
    assert 'function_failures_total{method="GET"} 1.0' in metrics


def test_parallel_sync_calls_run_together_while_healthz_answers_at_once(serve: ServeFunction):
    runtime = serve("orders", "get_order")

    def call(_: int) -> int:
        with runtime.client as client:
            return client.get("/1", params={"sleep": 1}).status_code

    def timed(path: str) -> tuple[int, float]:
        started = time.monotonic()
        status = runtime.client.get(path).status_code
        return status, time.monotonic() - started

    with ThreadPoolExecutor(4) as pool:
        started = time.monotonic()
        calls = [pool.submit(call, n) for n in range(4)]
        time.sleep(0.2)  # let the four calls occupy their threads
        health, health_elapsed = timed("/healthz")
        metrics, metrics_elapsed = timed("/metrics")
        ready, ready_elapsed = timed("/readyz")
        statuses = [c.result() for c in calls]
        elapsed = time.monotonic() - started

    assert statuses == [200] * 4
    assert elapsed < 2.5  # four 1 s calls one after another would take 4 s
    # Far under the 1 s the calls take: none of these waited for a worker thread.
    assert (health, metrics, ready) == (200, 200, 200)
    assert max(health_elapsed, metrics_elapsed, ready_elapsed) < 0.5


def test_stuck_handlers_holding_every_thread_turn_health_bad_until_they_return(
        serve: ServeFunction):
    runtime = serve("orders", "get_order", "--timeout", "0.5", FUNC_WORKER_THREADS="1")

    timed_out = runtime.client.get("/1", params={"sleep": 2.5})
    while_stuck = runtime.client.get("/healthz")
    not_ready = runtime.client.get("/readyz")
    refused = runtime.client.get("/2")
    metrics = runtime.client.get("/metrics").text
    time.sleep(2.5)
    after = runtime.client.get("/healthz")
    ready_again = runtime.client.get("/readyz")
    served = runtime.client.get("/3")

    assert timed_out.status_code == 408
    assert while_stuck.status_code == 503
    assert "worker threads are held" in while_stuck.json()["detail"]
    assert not_ready.status_code == 503  # taken out of the Service until a thread is free
    # Refused at once, not queued behind the stuck thread until its own limit.
    assert refused.status_code == 503
    assert refused.json() == {"detail": "All 1 worker threads are held by calls that "
                                        "exceeded their time limit; try again later."}
    assert "function_stuck_threads 1.0" in metrics
    assert 'function_failures_total{method="GET"} 2.0' in metrics
    assert after.status_code == 200
    assert ready_again.status_code == 200
    assert served.status_code == 200
    assert "1 of 1 worker threads are held by timed-out calls" in runtime.log()


@pytest.mark.parametrize("handler", ["get_stubborn_order", "get_stubborn_failing_order"])
def test_an_async_handler_that_ignores_its_cancellation_still_gets_408(
        serve: ServeFunction, handler: str):
    runtime = serve("orders", handler, "--timeout", "0.5")

    answer = runtime.client.get("/1", params={"sleep": 1})
    metrics = runtime.client.get("/metrics").text

    assert answer.status_code == 408
    assert 'function_timeouts_total{method="GET"} 1.0' in metrics


@pytest.mark.parametrize("handler", ["get_blocking_order", "get_blocking_refused_order"])
def test_an_async_handler_that_blocks_the_loop_past_its_limit_gets_408_and_a_warning(
        serve: ServeFunction, handler: str):
    runtime = serve("orders", handler, "--timeout", "0.5")

    late = runtime.client.get("/1", params={"sleep": 1})
    on_time = runtime.client.get("/1", params={"sleep": 0})
    metrics = runtime.client.get("/metrics").text

    assert late.status_code == 408
    assert on_time.status_code == (200 if handler == "get_blocking_order" else 404)
    assert 'function_timeouts_total{method="GET"} 1.0' in metrics
    assert "without giving way to the event loop" in runtime.log()


def test_sigterm_lets_a_call_in_flight_finish(serve: ServeFunction):
    runtime = serve("orders", "get_order", "--timeout", "5")

    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(lambda: httpx.get(f"{runtime.url}/1?sleep=1.5", timeout=10))
        time.sleep(0.5)
        runtime.process.terminate()
        answer = call.result()

    assert answer.status_code == 200
    assert answer.json() == {"order_id": 1, "slept": 1.5}
    # uvicorn re-raises the signal once it has shut down cleanly.
    assert runtime.process.wait(timeout=10) in (0, -signal.SIGTERM)
    assert "Application shutdown complete." in runtime.log()
