"""A POST function: counts the words of a text, optionally only the long ones."""

from collections import Counter
from dataclasses import dataclass

from fastapi import Query
from pydantic import BaseModel, Field

FUNCTION_NAME = "word-count"
FUNCTION_VERSION = "1.0.0"
FUNCTION_SUMMARY = "Counts the words of a text"
FUNCTION_RESPONSE_DESC = "How many words, and the most common ones"


class PostRequest(BaseModel):
    text: str = Field(description="Any text; words are split on white space.")


class PostResponse(BaseModel):
    words: int
    most_common: list[tuple[str, int]]


@dataclass
class Params:
    min_length: int = Query(1, ge=1, description="Count only words at least this long.")
    top: int = Query(3, ge=0, le=100, description="How many of the most common to list.")


async def post_word_count(event, context):
    words = [w.lower() for w in event.data.text.split() if len(w) >= event.params.min_length]
    return PostResponse(words=len(words), most_common=Counter(words).most_common(event.params.top))
