"""A POST function fixed: it sums the numbers it was sent."""

from dataclasses import dataclass

from fastapi import HTTPException
from pydantic import BaseModel

FUNCTION_NAME = "totals"
FUNCTION_VERSION = "1.0.0"
FUNCTION_SUMMARY = "Adds numbers up"
FUNCTION_RESPONSE_DESC = "The total"


class PostRequest(BaseModel):
    numbers: list[float]


class PostResponse(BaseModel):
    total: float


@dataclass
class Params:
    pass


def post_total(event, context):
    try:
        return PostResponse(total=sum(event.data.numbers))
    except NameError as error:
        raise HTTPException(500, detail=str(error)) from error
