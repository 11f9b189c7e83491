"""A Function's status: conditions, replica counts and URL, computed from facts.

Pure functions: the reconciler gathers the facts (the checks, the Deployment as the
API server last reported it) and this module turns them into the status a user
reads with ``kubectl get functions``.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from kubeless_operator import specs

SOURCE_VALID = "SourceValid"
READY = "Ready"

# Reasons a user reads in the Reason column; each names a cause they can act on.
VALID = "Valid"
INVALID_FUNCTION = "InvalidFunction"
UNKNOWN_RUNTIME = "UnknownRuntime"
SOURCE_TOO_LARGE = "SourceTooLarge"
CONFLICT = "Conflict"
APPLY_FAILED = "ApplyFailed"
DEPLOYING = "Deploying"
DEPLOYMENT_FAILED = "DeploymentFailed"
REPLICAS_READY = "ReplicasReady"


@dataclasses.dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


@dataclasses.dataclass(frozen=True)
class Rollout:
    """Where a Deployment's rollout stands, as its own status tells."""

    desired: int
    ready: int
    is_complete: bool
    failure: str | None = None

    def condition(self, *, url: str) -> Condition:
        counts = f"{self.ready}/{self.desired} replicas ready"
        if self.ready > self.desired:
            # A hand-scaled Deployment being set back, or an old ReplicaSet's pods
            # still ready: "3/1 ready" would read as a miscount.
            counts = f"{self.ready} replicas ready, scaling down to {self.desired}"
        if self.failure is not None:
            return Condition(READY, False, DEPLOYMENT_FAILED, f"{counts}; {self.failure}")
        if self.is_complete:
            return Condition(READY, True, REPLICAS_READY, f"{counts}; serving at {url}.")
        return Condition(READY, False, DEPLOYING, f"{counts}; waiting for the rollout.")


def rollout(raw_deployment: Mapping[str, Any]) -> Rollout:
    spec = raw_deployment.get("spec") or {}
    status = raw_deployment.get("status") or {}
    generation = raw_deployment.get("metadata", {}).get("generation", 0)
    desired = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0)

    # The counts mean something only once the controller saw the latest spec, and
    # the rollout is over only when no pod of an older template is left.
    is_observed = status.get("observedGeneration", 0) >= generation
    is_complete = (
        is_observed
        and status.get("updatedReplicas", 0) >= desired
        and status.get("replicas", 0) == status.get("updatedReplicas", 0)
        and status.get("availableReplicas", 0) >= desired
    )
    return Rollout(desired, ready, is_complete, _failure(status.get("conditions") or []))


def _failure(raw_conditions: Sequence[Mapping[str, Any]]) -> str | None:
    for raw in raw_conditions:
        stalled = raw.get("type") == "Progressing" and raw.get("status") == "False"
        failing = raw.get("type") == "ReplicaFailure" and raw.get("status") == "True"
        if stalled or failing:
            return f"the Deployment reports {raw.get('reason')}: {raw.get('message', '')}"
    return None


# What Kubernetes allows in a condition's message (metav1.Condition); a source with
# thousands of problems would otherwise make a status the API server refuses.
MESSAGE_LIMIT = 32768


def bounded_message(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """The message, cut after its last whole line that fits, saying how much was left out."""
    if len(message) <= limit:
        return message
    lines = message.splitlines()
    kept: list[str] = []
    size = 0
    room = limit - 80  # for the closing line
    for line in lines:
        if size + len(line) + 1 > room:
            break
        kept.append(line)
        size += len(line) + 1
    if not kept:  # a single line longer than the limit
        return f"{message[:room]}... (cut at {limit} characters)"
    left_out = len(lines) - len(kept)
    return "\n".join([*kept, f"... and {left_out} more line(s); run kubeless-fastapi check "
                                "for all of them."])


def build(
        *,
        generation: int,
        conditions: Sequence[Condition],
        previous: specs.RawFunctionStatus,
        rollout: Rollout | None = None,
        url: str | None = None,
        now: datetime.datetime | None = None,
) -> specs.RawFunctionStatus:
    """The full status; a condition keeps its transition time while its status holds."""
    stamp = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = {c.get("type"): c for c in previous.get("conditions") or []}
    raw_conditions: list[specs.RawCondition] = []
    for condition in conditions:
        status = "True" if condition.status else "False"
        before = old.get(condition.type, {})
        unchanged = before.get("status") == status
        raw_conditions.append({
            "type": condition.type,
            "status": status,
            "reason": condition.reason,
            "message": bounded_message(condition.message),
            "lastTransitionTime": before.get("lastTransitionTime", stamp) if unchanged else stamp,
            "observedGeneration": generation,
        })

    result: specs.RawFunctionStatus = {
        "observedGeneration": generation,
        "conditions": raw_conditions,
    }
    if rollout is not None:
        result["replicas"] = rollout.desired
        result["readyReplicas"] = rollout.ready
    if url is not None:
        result["url"] = url
    return result


def condition_of(status: specs.RawFunctionStatus, type_: str) -> specs.RawCondition | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)
