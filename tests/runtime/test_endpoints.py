"""The function route over real HTTP: events, results, and every kind of error."""

from __future__ import annotations

import pytest

from tests.runtime.conftest import ServeFunction


def test_get_function_answers_400_until_it_has_both_header_and_query(serve: ServeFunction):
    client = serve("request_info", "get_request_info").client

    no_header = client.get("/", params={"q": "x"})
    no_query = client.get("/", headers={"request-id": "r-1"})
    both = client.get("/", params={"q": "x"}, headers={"request-id": "r-1"})

    assert no_header.status_code == 400
    assert no_header.json() == {"detail": "the request-id header is required"}
    assert no_query.status_code == 400
    assert no_query.json() == {"detail": "the q query parameter is required"}
    assert both.status_code == 200
    assert both.json()["request_id"] == "r-1"
    assert both.json()["q"] == "x"


def test_params_reach_the_handler_validated(serve: ServeFunction):
    client = serve("request_info", "get_request_info").client

    answer = client.get("/?q=x&tags=a&tags=b", headers={"request-id": "r-2"})

    assert answer.json()["tags"] == ["a", "b"]


def test_context_has_kubeless_keys(serve: ServeFunction):
    runtime = serve("request_info", "get_request_info", "--timeout", "7",
                    FUNC_RUNTIME="python-fastapi3.12", FUNC_MEMORY_LIMIT="128Mi")

    answer = runtime.client.get("/?q=x", headers={"request-id": "r"})

    assert answer.json()["context"] == {
        "function-name": "get_request_info", "timeout": 7.0,
        "runtime": "python-fastapi3.12", "memory-limit": "128Mi",
    }


def test_handler_bug_reraised_as_http_500_passes_its_detail(serve: ServeFunction):
    client = serve("totals_buggy", "post_total").client

    answer = client.post("/", json={"numbers": [1, 2]})

    assert answer.status_code == 500
    assert answer.json() == {"detail": "name 'numbrs' is not defined"}


def test_corrected_handler_answers_200(serve: ServeFunction):
    client = serve("totals_fixed", "post_total").client

    answer = client.post("/", json={"numbers": [1, 2.5]})

    assert answer.status_code == 200
    assert answer.json() == {"total": 3.5}


@pytest.mark.parametrize(
    ("handler", "method", "body", "expected"),
    [
        pytest.param("post_order", "POST", {"item": "tea", "quantity": 2},
                     {"order_id": 7, "item": "tea", "quantity": 2}, id="post"),
        pytest.param("put_order", "PUT", {"quantity": 5}, {"order_id": 7, "quantity": 5},
                     id="put-returns-a-dict"),
        pytest.param("delete_order", "DELETE", {"reason": "dup"},
                     {"order_id": 7, "deleted": True, "reason": "dup"}, id="delete"),
    ],
)
def test_body_methods_receive_request_data_and_params(serve: ServeFunction, handler, method,
                                                      body, expected):
    client = serve("orders", handler).client

    answer = client.request(method, "/7", json=body)

    assert answer.status_code == 200, answer.text
    assert expected.items() <= answer.json().items()


def test_async_patch_handler_reads_a_header_param(serve: ServeFunction):
    client = serve("orders", "patch_order").client

    answer = client.patch("/3", json={"item": "cake"}, headers={"caller": "alice"})

    assert answer.json() == {"order_id": 3, "item": "cake", "caller": "alice"}


def test_request_model_with_only_optional_fields_makes_the_body_optional(serve: ServeFunction):
    client = serve("orders", "delete_order").client

    answer = client.delete("/4")

    assert answer.status_code == 200
    assert answer.json() == {"order_id": 4, "deleted": True, "reason": None}


def test_required_body_missing_is_a_422(serve: ServeFunction):
    client = serve("orders", "post_order").client

    answer = client.post("/1")

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b'{"item": "tea",', "application/json", id="malformed-json"),
        pytest.param(b'{"item": "\xff\xfe"}', "application/json", id="invalid-utf8"),
        pytest.param(b'{"item": ["not", "a", "string"]}', "application/json", id="wrong-type"),
        pytest.param(b'{"quantity": 1}', "application/json", id="missing-field"),
    ],
)
def test_bad_bodies_are_client_errors_in_json(serve: ServeFunction, content, content_type):
    runtime = serve("orders", "post_order")

    answer = runtime.client.post("/1", content=content, headers={"content-type": content_type})

    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"] == "application/json"
    assert "detail" in answer.json()
    assert "Traceback" not in answer.text


def test_wrong_path_parameter_type_is_a_422_naming_it(serve: ServeFunction):
    client = serve("orders", "get_order").client

    answer = client.get("/seven")

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["path", "order_id"]


@pytest.mark.parametrize(
    "headers",
    [pytest.param({}, id="missing"), pytest.param({"caller": "al"}, id="too-short")],
)
def test_header_with_min_length_is_validated_with_its_location(serve: ServeFunction, headers):
    client = serve("callers", "get_caller").client

    refused = client.get("/", headers=headers)
    accepted = client.get("/", headers={"caller": "alice"})

    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["header", "caller"]
    assert accepted.json() == {"caller": "alice", "theme": "light"}


def test_cookie_param_is_read_validated_and_documented(serve: ServeFunction):
    client = serve("callers", "get_caller").client
    dark = client.get("/", headers={"caller": "alice", "cookie": "theme=dark"})
    refused = client.get("/", headers={"caller": "alice", "cookie": "theme=neon"})
    parameters = client.get("/openapi.json").json()["paths"]["/"]["get"]["parameters"]

    assert dark.json() == {"caller": "alice", "theme": "dark"}
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["cookie", "theme"]
    assert {"name": "theme", "in": "cookie"}.items() <= next(
        p for p in parameters if p["name"] == "theme").items()


def test_http_exception_passes_status_detail_and_headers(serve: ServeFunction):
    runtime = serve("orders", "get_missing_order")

    answer = runtime.client.get("/1")
    metrics = runtime.client.get("/metrics").text

    assert answer.status_code == 404
    assert answer.json() == {"detail": "no such order"}
    assert answer.headers["x-order-lookup"] == "miss"
    assert 'function_failures_total{method="GET"} 0.0' in metrics
    assert 'function_calls_total{method="GET"} 1.0' in metrics


def test_handler_exception_is_a_generic_500_with_the_traceback_logged(serve: ServeFunction):
    runtime = serve("orders", "get_crashing_order")

    answer = runtime.client.get("/9")

    assert answer.status_code == 500
    assert answer.json() == {"detail": "The function failed; its log has the details."}
    assert "fire" not in answer.text
    log = runtime.wait_for_log("on fire")
    assert "Function 'orders' failed on GET /9." in log
    assert "Traceback" in log
    assert "ValueError: the order book is on fire" in log


@pytest.mark.parametrize(("handler", "logged"), [
    ("get_exiting_order", "SystemExit: the order book closed"),
    ("get_interrupted_order", "KeyboardInterrupt"),
    ("get_cancelled_order", "CancelledError"),
    ("get_vanished_order", "OrderBookGone: not even an Exception"),
    ("get_upstream_timeout_order", "TimeoutError: the warehouse did not answer"),
    ("get_exhausted_order", "RuntimeError: the handler raised StopIteration"),
    ("get_closed_order", "RuntimeError: the handler raised GeneratorExit"),
    ("get_upstream_timeout_order_async", "TimeoutError: the warehouse did not answer"),
    ("get_odd_status_order",
     "raised HTTPException(999) on GET /9; a response status must be from 200 to 599."),
    ("get_unsendable_detail_order",
     "raised HTTPException(418) on GET /9; its detail cannot be sent as JSON"),
    ("get_broken_header_order", "raised HTTPException(418) on GET /9; the header "
                                "'x-note' has a line break or NUL in it."),
    ("get_broken_response_order", "returned a response on GET /9 that cannot be sent: "
                                  "the header 'x-note' has a line break or NUL in it."),
])
def test_whatever_a_handler_raises_or_returns_unsent_is_a_counted_500_not_a_stop(
        serve: ServeFunction, handler: str, logged: str):
    # Not a stop of the server, not a timeout, not a dropped connection.
    runtime = serve("orders", handler)

    answer = runtime.client.get("/9")
    health = runtime.client.get("/healthz")
    metrics = runtime.client.get("/metrics").text

    assert answer.status_code == 500
    assert answer.json() == {"detail": "The function failed; its log has the details."}
    assert health.status_code == 200
    assert 'function_calls_total{method="GET"} 1.0' in metrics
    assert 'function_failures_total{method="GET"} 1.0' in metrics
    assert 'function_timeouts_total{method="GET"} 0.0' in metrics
    log = runtime.wait_for_log(logged)
    assert logged in log
    assert "Exception in ASGI application" not in log


@pytest.mark.parametrize(("item", "number", "said"), [
    ('"tea"', "NaN", "NaN is not a JSON number"),
    ('"tea"', "-Infinity", "-Infinity is not a JSON number"),
    ('"tea"', "1e999", "1e999 is beyond a 64-bit float"),
    ('"tea"', "9" * 5000, "a whole number of 5000 digits is too long"),
    ('"tea"', "1" * 400 + ".0", "111111111111...111111.0 is beyond a 64-bit float"),
    ('"\\ud800"', "1", "a \\u escape names half of a surrogate pair, which is not text"),
])
def test_nan_or_infinity_in_a_body_is_the_callers_422_not_a_failure(
        serve: ServeFunction, item: str, number: str, said: str):
    runtime = serve("orders", "post_order")

    answer = runtime.client.post("/1", content=f'{{"item": {item}, "quantity": {number}}}',
                                 headers={"content-type": "application/json"})
    metrics = runtime.client.get("/metrics").text

    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["type"] == "json_invalid"
    assert error["ctx"]["error"] == f"{said}; send finite numbers and valid text"
    assert 'function_failures_total{method="POST"} 0.0' in metrics


def test_request_model_or_params_raising_is_a_counted_500_with_the_trace_logged(
        serve: ServeFunction):
    runtime = serve("fussy", "post_note")

    model_raised = runtime.client.post("/", json={"note": "explode"})
    model_exited = runtime.client.post("/", json={"note": "exit"})
    params_raised = runtime.client.post("/", json={"note": "fine"}, params={"mode": "boom"})
    no_body = runtime.client.post("/", params={"mode": "boom"})
    fine = runtime.client.post("/", json={"note": "fine"})
    metrics = runtime.client.get("/metrics").text

    for answer in (model_raised, model_exited, params_raised, no_body):
        assert answer.status_code == 500
        assert answer.json() == {"detail": "The function failed; its log has the details."}
    assert fine.json() == {"note": "fine"}
    assert 'function_calls_total{method="POST"} 5.0' in metrics
    assert 'function_failures_total{method="POST"} 4.0' in metrics
    log = runtime.wait_for_log("params blew up")
    assert "Function 'fussy' failed reading the request on POST /." in log
    assert "RuntimeError: the request model blew up" in log
    assert "SystemExit: the request model left" in log
    assert "Function 'fussy' failed on POST /." in log
    # Told once, by the runtime: not again by the server.
    assert "Exception in ASGI application" not in log


def test_result_that_does_not_fit_the_model_is_a_500_naming_the_fields(serve: ServeFunction):
    runtime = serve("orders", "get_misshapen_order")

    answer = runtime.client.get("/9")

    assert answer.status_code == 500
    assert "response model" in answer.json()["detail"]
    log = runtime.wait_for_log("does not fit")
    assert "does not fit GetResponse" in log
    assert "order_id: Input should be a valid integer" in log
    assert "slept: Input should be a valid number" in log
