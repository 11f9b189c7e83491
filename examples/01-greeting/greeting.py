"""A GET function: greets the caller by name and echoes the request id."""

from dataclasses import dataclass

from fastapi import Header, Query
from pydantic import BaseModel

FUNCTION_NAME = "greeting"
FUNCTION_VERSION = "1.0.0"
FUNCTION_SUMMARY = "Greets a caller by name"
FUNCTION_RESPONSE_DESC = "The greeting"


class GetResponse(BaseModel):
    greeting: str
    request_id: str | None = None


@dataclass
class Params:
    name: str = Query("world", min_length=1, description="Who to greet.")
    request_id: str | None = Header(None, description="Echoed back when present.")


def get_greeting(event, context):
    params = event.state.params
    return GetResponse(greeting=f"hello {params.name}", request_id=params.request_id)
