"""A GET function with a required header that has a minimum length, and a cookie."""

from dataclasses import dataclass

from fastapi import Cookie, Header
from pydantic import BaseModel

FUNCTION_NAME = "callers"
FUNCTION_VERSION = "1.0.0"
FUNCTION_SUMMARY = "Names the caller"
FUNCTION_RESPONSE_DESC = "The caller"


class GetResponse(BaseModel):
    caller: str
    theme: str


@dataclass
class Params:
    caller: str = Header(..., min_length=3)
    theme: str = Cookie("light", pattern="^(light|dark)$")


def get_caller(event, context):
    params = event.state.params
    return GetResponse(caller=params.caller, theme=params.theme)
