"""The app around the function: OpenAPI, offline docs, health, readiness, metrics."""

from __future__ import annotations

import pytest

from tests.runtime.conftest import EXAMPLES, ServeFunction


@pytest.fixture(scope="module")
def openapi(serve: ServeFunction) -> dict:
    return serve("request_info", "get_request_info").client.get("/openapi.json").json()


def test_openapi_carries_the_function_metadata(openapi):
    operation = openapi["paths"]["/"]["get"]

    assert openapi["info"]["title"] == "request-info"
    assert openapi["info"]["version"] == "0.3.0"
    assert operation["summary"] == "Echoes a request id and a query"
    assert operation["responses"]["200"]["description"] == "What the caller sent"
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GetResponse"}
    assert {"408", "422", "500"} <= operation["responses"].keys()


def test_params_are_parameters_and_a_list_is_an_array_query(openapi):
    parameters = {p["name"]: p for p in openapi["paths"]["/"]["get"]["parameters"]}

    assert parameters["q"]["in"] == "query"
    assert parameters["request-id"]["in"] == "header"
    assert parameters["tags"]["in"] == "query"
    assert parameters["tags"]["schema"]["type"] == "array"
    assert parameters["tags"]["schema"]["items"] == {"type": "string"}


def test_no_get_operation_has_a_request_body(serve: ServeFunction, openapi):
    orders = serve("orders", "get_order").client.get("/openapi.json").json()

    for document in (openapi, orders):
        for path in document["paths"].values():
            assert "requestBody" not in path.get("get", {})


def test_request_model_is_the_documented_body(serve: ServeFunction):
    document = serve("orders", "post_order").client.get("/openapi.json").json()
    operation = document["paths"]["/{order_id}"]["post"]

    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PostRequest"}
    assert operation["requestBody"]["required"] is True
    assert [p["in"] for p in operation["parameters"]] == ["path", "query", "header"]
    assert document["components"]["schemas"]["PostResponse"]["required"] == [
        "order_id", "item", "quantity"]


def test_docs_are_served_without_internet(serve: ServeFunction):
    client = serve("request_info", "get_request_info").client

    page = client.get("/docs").text

    assert "cdn." not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        src = next(part.split('"')[0] for part in page.split('"/') if asset in part)
        assert client.get(f"/{src}").status_code == 200


def test_health_and_readiness_answer(serve: ServeFunction):
    client = serve("request_info", "get_request_info").client

    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_only_function_calls_are_counted(serve: ServeFunction):
    runtime = serve(EXAMPLES / "01-greeting" / "greeting.py", "get_greeting")
    client = runtime.client

    for path in ("/healthz", "/readyz", "/docs", "/openapi.json", "/metrics", "/"):
        client.get(path)
    metrics = client.get("/metrics").text

    assert 'function_calls_total{method="GET"} 1.0' in metrics
    assert 'function_duration_seconds_count{method="GET"} 1.0' in metrics
    assert 'function_failures_total{method="GET"} 0.0' in metrics
    assert "function_calls_in_flight" in metrics


def test_only_a_thread_pool_handler_documents_503(serve: ServeFunction, openapi):
    asynchronous = serve("orders", "get_order_async").client.get("/openapi.json").json()

    assert "503" in openapi["paths"]["/"]["get"]["responses"]
    assert "503" not in next(iter(asynchronous["paths"].values()))["get"]["responses"]
