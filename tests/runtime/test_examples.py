"""Every example in examples/ is served and answers as its docstring says."""

from __future__ import annotations

from tests.runtime.conftest import EXAMPLES, ServeFunction


def test_greeting_greets_by_name_and_echoes_the_request_id(serve: ServeFunction):
    client = serve(EXAMPLES / "01-greeting" / "greeting.py", "get_greeting").client

    answer = client.get("/", params={"name": "Ada"}, headers={"request-id": "r-7"})

    assert answer.json() == {"greeting": "hello Ada", "request_id": "r-7"}


def test_word_count_counts_long_words(serve: ServeFunction):
    client = serve(EXAMPLES / "02-word-count" / "wordcount.py", "post_word_count").client

    answer = client.post("/", params={"min_length": 3, "top": 1},
                         json={"text": "the cat and the other cat"})

    assert answer.json() == {"words": 6, "most_common": [["the", 2]]}
