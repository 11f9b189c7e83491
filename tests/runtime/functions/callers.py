"""A GET function with a required header that has a minimum length."""

from dataclasses import dataclass

from fastapi import Header
from pydantic import BaseModel

FUNCTION_NAME = "callers"
FUNCTION_VERSION = "1.0.0"
FUNCTION_SUMMARY = "Names the caller"
FUNCTION_RESPONSE_DESC = "The caller"


class GetResponse(BaseModel):
    caller: str


@dataclass
class Params:
    caller: str = Header(..., min_length=3)


def get_caller(event, context):
    return GetResponse(caller=event.state.params.caller)
