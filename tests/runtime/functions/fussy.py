"""A POST function whose request model and Params raise plain exceptions on some input."""

from dataclasses import dataclass

from fastapi import Query
from pydantic import BaseModel, model_validator

FUNCTION_NAME = "fussy"
FUNCTION_VERSION = "1.0.0"
FUNCTION_SUMMARY = "Refuses some notes the hard way"
FUNCTION_RESPONSE_DESC = "The note"


class PostRequest(BaseModel):
    note: str = ""

    @model_validator(mode="after")
    def no_explosions(self):
        if self.note == "explode":
            raise RuntimeError("the request model blew up")
        if self.note == "exit":
            raise SystemExit("the request model left")
        return self


class PostResponse(BaseModel):
    note: str


@dataclass
class Params:
    mode: str = Query("calm")

    def __post_init__(self):
        if self.mode == "boom":
            raise RuntimeError("the params blew up")


def post_note(event, context):
    return PostResponse(note=event.data.note)
