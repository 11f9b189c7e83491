"""The body limit and the request log."""

from __future__ import annotations

import json

import httpx

from tests.runtime.conftest import ServeFunction

TWO_MEGABYTES_OF_NOTES = {"item": "tea", "notes": ["x" * 1000] * 2000}


def test_two_megabyte_body_is_accepted_under_the_default_limit(serve: ServeFunction):
    client = serve("orders", "post_order").client

    answer = client.post("/1", json=TWO_MEGABYTES_OF_NOTES)

    assert answer.status_code == 200


def test_body_over_a_one_megabyte_limit_is_refused_with_413(serve: ServeFunction):
    runtime = serve("orders", "post_order", FUNC_MAX_BODY_BYTES=str(1024 * 1024))

    answer = runtime.client.post("/1", json=TWO_MEGABYTES_OF_NOTES)

    assert answer.status_code == 413
    assert answer.json() == {"detail": "The request body is larger than the limit of "
                                       "1048576 bytes set by FUNC_MAX_BODY_BYTES."}


def test_chunked_body_over_the_limit_is_refused_with_413(serve: ServeFunction):
    runtime = serve("orders", "post_order", FUNC_MAX_BODY_BYTES=str(1024 * 1024))
    payload = json.dumps(TWO_MEGABYTES_OF_NOTES).encode()

    def chunks():  # no Content-Length: the body is counted as it arrives
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start:start + 64 * 1024]

    answer = httpx.post(f"{runtime.url}/1", content=chunks(),
                        headers={"content-type": "application/json"})

    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/json"


def test_every_request_is_logged_once(serve: ServeFunction):
    runtime = serve("orders", "get_order")

    runtime.client.get("/5", headers={"x-marker": "1"})
    runtime.client.get("/nope")

    lines = runtime.wait_for_log(" GET /nope ").splitlines()
    assert sum(" GET /5 200 " in line for line in lines) == 1
    assert sum(" GET /nope 422 " in line for line in lines) == 1


def test_json_log_format_writes_json_lines(serve: ServeFunction):
    runtime = serve("orders", "get_crashing_order", LOG_FORMAT="json")

    runtime.client.get("/5")

    log = runtime.wait_for_log('"path": "/5", "status"')
    entries = [json.loads(line) for line in log.splitlines() if line.strip()]
    access = [e for e in entries if e.get("path") == "/5" and "status" in e]
    failure = [e for e in entries if e["level"] == "error"]
    assert access[0]["method"] == "GET"
    assert access[0]["status"] == 500
    assert access[0]["duration_ms"] > 0
    assert access[0]["time"].endswith("+00:00")
    assert not any("color_message" in entry for entry in entries)
    assert failure[0]["function"] == "orders"
    assert "ValueError: the order book is on fire" in failure[0]["traceback"]
