"""The work queue's coalescing and the status a rollout turns into."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

from kubeless_operator import queueing, specs, statuses


def test_a_key_added_many_times_is_handled_once() -> None:
    async def scenario() -> list[str]:
        queue: queueing.WorkQueue[str] = queueing.WorkQueue()
        for key in ["a", "b", "a", "a"]:
            queue.add(key)
        handed_out = [await queue.get(), await queue.get()]
        return [key for key, _ in handed_out] + [str(len(queue))]

    assert asyncio.run(scenario()) == ["a", "b", "0"]


def test_a_key_added_while_handled_is_handled_again_afterwards_not_in_parallel() -> None:
    async def scenario() -> tuple[int, str]:
        queue: queueing.WorkQueue[str] = queueing.WorkQueue()
        queue.add("a")
        key, _ = await queue.get()
        queue.add("a")  # arrives while a worker handles "a"
        waiting = len(queue)
        queue.done(key)
        again, _ = await asyncio.wait_for(queue.get(), timeout=1)
        return waiting, again

    assert asyncio.run(scenario()) == (1, "a")


def test_urgent_keys_are_handed_out_first_and_a_promoted_key_only_once() -> None:
    async def scenario() -> list[tuple[str, bool]]:
        queue: queueing.WorkQueue[str] = queueing.WorkQueue()
        queue.add("status-1")
        queue.add("status-2")
        queue.add("new", urgent=True)
        queue.add("status-2", urgent=True)  # its spec changed meanwhile
        handed_out = [await queue.get() for _ in range(3)]
        for key, _ in handed_out:
            queue.done(key)
        assert len(queue) == 0
        return handed_out

    assert asyncio.run(scenario()) == [("new", True), ("status-2", True), ("status-1", False)]


def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    async def scenario() -> list[float]:
        queue: queueing.WorkQueue[str] = queueing.WorkQueue(base_delay=1, max_delay=5)
        delays = [queue.retry("a") for _ in range(5)]
        queue.close()
        return delays

    assert asyncio.run(scenario()) == [1, 2, 4, 5, 5]


def deployment(**status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": status}


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        pytest.param({}, statuses.DEPLOYING, id="new"),
        pytest.param({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                      "availableReplicas": 2, "readyReplicas": 2},
                     statuses.DEPLOYING, id="old-generation"),
        pytest.param({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2,
                      "availableReplicas": 2, "readyReplicas": 2},
                     statuses.DEPLOYING, id="old-pods-left"),
        pytest.param({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
                      "availableReplicas": 2, "readyReplicas": 2},
                     statuses.REPLICAS_READY, id="complete"),
        pytest.param({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "too slow"}]}, statuses.DEPLOYMENT_FAILED, id="deadline"),
    ],
)
def test_ready_follows_the_deployments_own_status(status: dict[str, Any], reason: str) -> None:
    condition = statuses.rollout(deployment(**status)).condition(url="http://f")

    assert condition.reason == reason
    assert condition.status is (reason == statuses.REPLICAS_READY)


def test_more_ready_replicas_than_wanted_read_as_a_scale_down() -> None:
    scaled_by_hand = deployment(observedGeneration=2, replicas=3, updatedReplicas=3,
                                availableReplicas=3, readyReplicas=3)

    condition = statuses.rollout(scaled_by_hand).condition(url="http://f")

    assert condition.message.startswith("3 replicas ready, scaling down to 2; ")


def test_a_condition_keeps_its_transition_time_while_it_holds() -> None:
    ready = statuses.Condition(statuses.READY, True, statuses.REPLICAS_READY, "ok")
    first = statuses.build(generation=1, conditions=[ready], previous={},
                           now=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC))
    later = datetime.datetime(2030, 1, 2, tzinfo=datetime.UTC)

    same = statuses.build(generation=2, conditions=[ready], previous=first, now=later)
    flipped = statuses.build(generation=2, previous=first, now=later, conditions=[
        statuses.Condition(statuses.READY, False, statuses.DEPLOYING, "wait")])

    def stamp(status: specs.RawFunctionStatus) -> str | None:
        condition = statuses.condition_of(status, statuses.READY)
        return condition.get("lastTransitionTime") if condition else None

    assert stamp(same) == "2030-01-01T00:00:00Z"
    assert stamp(flipped) == "2030-01-02T00:00:00Z"


def test_a_message_of_thousands_of_problems_is_cut_at_a_whole_line() -> None:
    problems = "\n".join(f"greeting.py:{line}: problem {line}." for line in range(30_000))

    message = statuses.bounded_message(problems)

    assert len(message) <= statuses.MESSAGE_LIMIT
    assert message.startswith("greeting.py:0: problem 0.\n")
    *kept, last = message.splitlines()
    assert kept[-1] == f"greeting.py:{len(kept) - 1}: problem {len(kept) - 1}."
    assert last.startswith(f"... and {30_000 - len(kept)} more line(s)")


def test_a_short_message_is_kept_whole() -> None:
    assert statuses.bounded_message("one\ntwo") == "one\ntwo"
