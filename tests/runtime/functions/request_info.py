"""A GET function that needs a request-id header and a query parameter."""

from dataclasses import dataclass

from fastapi import Header, HTTPException, Query
from pydantic import BaseModel

FUNCTION_NAME = "request-info"
FUNCTION_VERSION = "0.3.0"
FUNCTION_SUMMARY = "Echoes a request id and a query"
FUNCTION_RESPONSE_DESC = "What the caller sent"


class GetResponse(BaseModel):
    request_id: str
    q: str
    tags: list[str]
    context: dict[str, str | float]


@dataclass
class Params:
    q: str | None = Query(None, description="Any text.")
    tags: list[str] = Query([], description="Repeat to send several.")
    request_id: str | None = Header(None)


def get_request_info(event, context):
    if event.headers.get("request-id") is None:
        raise HTTPException(400, detail="the request-id header is required")
    if "q" not in event.query_params:
        raise HTTPException(400, detail="the q query parameter is required")
    params = event.state.params
    return {"request_id": params.request_id, "q": params.q, "tags": params.tags,
            "context": context}
