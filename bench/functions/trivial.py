"""The smallest useful GET function: what the runtime itself costs per call."""

from dataclasses import dataclass

from pydantic import BaseModel

FUNCTION_NAME = "trivial"
FUNCTION_VERSION = "1.0.0"
FUNCTION_SUMMARY = "Answers at once"
FUNCTION_RESPONSE_DESC = "A fixed message"


class GetResponse(BaseModel):
    message: str


@dataclass
class Params:
    pass


def get_trivial(event, context):
    return GetResponse(message="ok")
