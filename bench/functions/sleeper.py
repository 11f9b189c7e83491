"""A synchronous function that sleeps 50 ms: how well blocking handlers share the pool."""

import time
from dataclasses import dataclass

from pydantic import BaseModel

FUNCTION_NAME = "sleeper"
FUNCTION_VERSION = "1.0.0"
FUNCTION_SUMMARY = "Sleeps 50 ms"
FUNCTION_RESPONSE_DESC = "Done"


class GetResponse(BaseModel):
    message: str


@dataclass
class Params:
    pass


def get_sleep(event, context):
    time.sleep(0.05)
    return GetResponse(message="ok")
