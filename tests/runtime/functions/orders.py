"""One module with a handler for every method, and a few misbehaving ones."""

import asyncio
import sys
import time
from dataclasses import dataclass

from fastapi import Header, HTTPException, Path, Query, Response
from pydantic import BaseModel

FUNCTION_NAME = "orders"
FUNCTION_VERSION = "2.0.0"
FUNCTION_SUMMARY = "Keeps orders"
FUNCTION_RESPONSE_DESC = "The order"
FUNCTION_PATH = "/{order_id}"


class GetResponse(BaseModel):
    order_id: int
    slept: float = 0


class PostRequest(BaseModel):
    item: str
    quantity: int = 1
    notes: list[str] = []


class PostResponse(BaseModel):
    order_id: int
    item: str
    quantity: int
    received_bytes: int = 0


class PutRequest(BaseModel):
    quantity: int | None = None


class PutResponse(BaseModel):
    order_id: int
    quantity: int


class DelRequest(BaseModel):
    reason: str | None = None


class DelResponse(BaseModel):
    order_id: int
    deleted: bool
    reason: str | None


class PatchRequest(BaseModel):
    item: str


class PatchResponse(BaseModel):
    order_id: int
    item: str
    caller: str


@dataclass
class Params:
    order_id: int = Path(..., ge=0)
    sleep: float = Query(0, ge=0, description="Seconds to sleep before answering.")
    caller: str | None = Header(None, min_length=3)


def get_order(event, context):
    seconds = event.state.params.sleep
    time.sleep(seconds)
    return GetResponse(order_id=event.state.params.order_id, slept=seconds)


async def get_order_async(event, context):
    seconds = event.state.params.sleep
    await asyncio.sleep(seconds)
    return GetResponse(order_id=event.state.params.order_id, slept=seconds)


def post_order(event, context):
    return PostResponse(order_id=event.params.order_id, item=event.data.item,
                        quantity=event.data.quantity,
                        received_bytes=len(event.request.headers.get("content-length", "")))


def put_order(event, context):
    return {"order_id": event.params.order_id, "quantity": event.data.quantity or 1}


def delete_order(event, context):
    return DelResponse(order_id=event.params.order_id, deleted=True, reason=event.data.reason)


async def patch_order(event, context):
    if event.params.caller is None:
        raise HTTPException(400, detail="caller header required")
    return PatchResponse(order_id=event.params.order_id, item=event.data.item,
                         caller=event.params.caller)


def get_missing_order(event, context):
    raise HTTPException(404, detail="no such order", headers={"X-Order-Lookup": "miss"})


def get_crashing_order(event, context):
    raise ValueError("the order book is on fire")


def get_exiting_order(event, context):
    sys.exit("the order book closed")


async def get_interrupted_order(event, context):
    raise KeyboardInterrupt


async def get_cancelled_order(event, context):
    raise asyncio.CancelledError


class OrderBookGone(BaseException):
    pass


def get_vanished_order(event, context):
    raise OrderBookGone("not even an Exception")


def get_exhausted_order(event, context):
    return next(iter([]))


def get_closed_order(event, context):
    raise GeneratorExit


def get_unsendable_detail_order(event, context):
    raise HTTPException(418, detail=object())


def get_broken_header_order(event, context):
    raise HTTPException(418, detail="teapot", headers={"X-Note": "one\ntwo"})


def get_broken_response_order(event, context):
    return Response(b"{}", media_type="application/json", headers={"X-Note": "one\rtwo"})


def get_odd_status_order(event, context):
    raise HTTPException(999, detail="odd")


def get_upstream_timeout_order(event, context):
    raise TimeoutError("the warehouse did not answer")


async def get_upstream_timeout_order_async(event, context):
    raise TimeoutError("the warehouse did not answer")


async def get_stubborn_order(event, context):
    # Swallows the cancellation at the time limit and finishes late anyway.
    seconds = event.state.params.sleep
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        await asyncio.sleep(seconds)
    return GetResponse(order_id=event.state.params.order_id, slept=seconds)


async def get_stubborn_failing_order(event, context):
    # Swallows the cancellation at the time limit, then fails.
    try:
        await asyncio.sleep(event.state.params.sleep)
    except asyncio.CancelledError:
        raise ValueError("too late to fail on time") from None
    return GetResponse(order_id=event.state.params.order_id)


async def get_blocking_order(event, context):
    # Blocking code in an async def: the event loop cannot run the time limit.
    time.sleep(event.state.params.sleep)  # noqa: ASYNC251 (the mistake under test)
    return GetResponse(order_id=event.state.params.order_id, slept=event.state.params.sleep)


async def get_blocking_refused_order(event, context):
    # Blocks past the limit, then refuses: the caller's answer is still the late one.
    time.sleep(event.state.params.sleep)  # noqa: ASYNC251 (the mistake under test)
    raise HTTPException(status_code=404, detail="no such order")


def get_misshapen_order(event, context):
    return {"order_id": "not a number", "slept": "never"}
