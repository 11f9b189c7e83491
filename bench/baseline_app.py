"""A hand-written FastAPI app answering what bench/functions/trivial.py answers.

It is the practical limit for the runtime: the same framework and server with
nothing of ours in between.
"""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class GetResponse(BaseModel):
    message: str


@app.get("/", response_model=GetResponse)
def trivial() -> GetResponse:
    return GetResponse(message="ok")
