"""One reconcile: bring a Function's children and status in line with its spec.

Level-based and idempotent: it reads the Function as it is now and the children as
last observed, applies whatever differs, and writes a status that describes what
is true. Running it twice in a row changes nothing the second time. It is plain
synchronous code, run by the workers in a thread pool.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from kubeless_operator import builders, clients, observing, runtimes, specs, statuses

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]
OwnerLookup = Callable[[observing.Key], "str | None"]


@dataclasses.dataclass(frozen=True)
class Context:
    """What every reconcile shares: the API, the runtime table and the observations."""

    client: clients.Client
    runtimes: runtimes.RuntimeTable
    observations: observing.Observations
    cluster_domain: str = "cluster.local"
    owner_of: OwnerLookup | None = None
    """Who controls an object by name, from a watch cache ("" for nobody, None when
    there is no such object); without it, each unknown child is read from the API."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a reconcile ended, for the metrics and the work queue."""

    result: str  # the Ready reason, a bounded set of values
    status: specs.RawFunctionStatus
    body: Mapping[str, Any] | None = None  # the Function after a status patch
    is_status_deferred: bool = False


class ConflictError(Exception):
    """A child's name is taken by an object that this Function does not control."""


def reconcile(
        body: Mapping[str, Any],
        *,
        context: Context,
        logger: Logger,
        defer_status: bool = False,
) -> Outcome:
    """Reconcile one Function; with ``defer_status``, a reconcile that changed children
    leaves the status to a later one (see :class:`Outcome`'s ``is_status_deferred``)."""
    generation = body["metadata"].get("generation", 0)
    previous = cast(specs.RawFunctionStatus, body.get("status") or {})
    finish = functools.partial(_finish, body, context, logger=logger)

    # The source is checked first and alone: an invalid Function touches nothing.
    try:
        function = specs.read(body)
    except specs.InvalidFunctionError as error:
        message = "\n".join(error.problems)
        return finish([
            statuses.Condition(statuses.SOURCE_VALID, False, statuses.INVALID_FUNCTION, message),
            statuses.Condition(statuses.READY, False, statuses.INVALID_FUNCTION,
                               "Nothing is deployed until the source is valid; see SourceValid."),
        ])
    valid = statuses.Condition(statuses.SOURCE_VALID, True, statuses.VALID,
                               f"{function.filename} follows the function contract.")

    runtime = context.runtimes.resolve(function.runtime)
    if runtime is None:
        message = context.runtimes.describe_unknown(function.runtime)
        return finish([valid, _not_ready(statuses.UNKNOWN_RUNTIME, message)])

    # Refuse an oversized source before building anything, so that no child is
    # left half-made by a ConfigMap the API server would refuse.
    size = builders.config_map_size(builders.config_map_data(function))
    if size > builders.CONFIG_MAP_LIMIT:
        message = (
            f"the source and deps take {size} bytes in the function's ConfigMap, over "
            f"the {builders.CONFIG_MAP_LIMIT}-byte (1 MiB) limit of a ConfigMap; "
            "move data out of the module or into a dependency."
        )
        return finish([valid, _not_ready(statuses.SOURCE_TOO_LARGE, message)])

    desired = _desired(function, runtime)
    try:
        _claim(desired, function=function, context=context)
    except ConflictError as error:
        return finish([valid, _not_ready(statuses.CONFLICT, str(error))])

    try:
        applied = [_apply(raw, context=context, logger=logger) for raw in desired]
        _remove_unwanted_autoscaler(function, context=context, logger=logger)
    except clients.ApiError as error:
        if not error.is_permanent:
            raise
        message = f"the API server refused a child object: {error.message}"
        return finish([valid, _not_ready(statuses.APPLY_FAILED, message)])

    deployment = context.observations.get(("Deployment", function.namespace, function.name))
    rollout = statuses.rollout(deployment.raw_rollout if deployment else {})
    if defer_status and any(applied):
        # The status write (and its event) waits behind other Functions' children.
        return Outcome(statuses.DEPLOYING, previous, is_status_deferred=True)
    url = builders.url(function, cluster_domain=context.cluster_domain)
    return finish([valid, rollout.condition(url=url)],
                  rollout=rollout, url=url, generation=generation, previous=previous)


def _not_ready(reason: str, message: str) -> statuses.Condition:
    return statuses.Condition(statuses.READY, False, reason, message)


def _desired(function: specs.Function, runtime: runtimes.Runtime) -> list[dict[str, Any]]:
    children = [
        builders.config_map(function),
        builders.deployment(function, runtime),
        builders.service(function),
    ]
    autoscaler = builders.autoscaler(function)
    if autoscaler is not None:
        children.append(autoscaler)
    return children


def _claim(
        desired: Sequence[Mapping[str, Any]],
        *,
        function: specs.Function,
        context: Context,
) -> None:
    """Make sure every child name is free or already this Function's, or raise."""
    taken: list[str] = []
    for raw in desired:
        key = observing.key_of(raw)
        observed = context.observations.get(key)
        if observed is not None and observed.controller_uid == function.uid:
            continue

        if context.owner_of is not None:
            owner = context.owner_of(key)
            if owner is None or owner == function.uid:
                continue
            taken.append(f"{key[0]} {key[2]!r}")
            continue

        # Without a watch cache, only the API server can tell whether the name is free.
        existing = context.client.read(clients.KINDS[key[0]], namespace=key[1], name=key[2])
        if existing is None:
            continue
        controller = observing.controller_of(existing)
        if controller is not None and controller.get("uid") == function.uid:
            continue
        taken.append(f"{key[0]} {key[2]!r}")

    if taken:
        raise ConflictError(
            f"{', '.join(taken)} already exist(s) and this Function does not own it, so "
            "nothing was changed; delete or rename that object, or rename the Function."
        )


def _apply(
        raw: Mapping[str, Any],
        *,
        context: Context,
        logger: Logger,
) -> bool:
    """Apply one child unless it is as last applied; say whether it was applied."""
    key = observing.key_of(raw)
    desired_hash = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
    if context.observations.is_unchanged(key, desired_hash=desired_hash):
        return False

    # Forced: the fields listed are the operator's by definition, and a hand edit
    # of one of them is exactly what this apply puts back.
    applied = context.client.apply(raw, force=True)
    context.observations.record_apply(key, desired_hash=desired_hash, raw=applied)
    logger.debug(f"Applied {key[0]} {key[2]!r}.")
    return True


def _remove_unwanted_autoscaler(
        function: specs.Function,
        *,
        context: Context,
        logger: Logger,
) -> None:
    if function.autoscaler is not None:
        return
    key = ("HorizontalPodAutoscaler", function.namespace, function.name)
    observed = context.observations.get(key)
    if observed is None or observed.controller_uid != function.uid:
        return
    context.client.delete(clients.AUTOSCALER, namespace=key[1], name=key[2], uid=observed.uid)
    context.observations.forget(key)
    logger.info("Removed the autoscaler: spec.horizontalPodAutoscaler is gone.")


def _finish(
        body: Mapping[str, Any],
        context: Context,
        conditions: Sequence[statuses.Condition],
        *,
        logger: Logger,
        rollout: statuses.Rollout | None = None,
        url: str | None = None,
        generation: int | None = None,
        previous: specs.RawFunctionStatus | None = None,
) -> Outcome:
    meta = body["metadata"]
    if previous is None:
        previous = cast(specs.RawFunctionStatus, body.get("status") or {})
    if generation is None:
        generation = int(meta.get("generation", 0))
    status = statuses.build(generation=generation, conditions=conditions,
                            previous=previous, rollout=rollout, url=url)
    ready = conditions[-1]
    if _comparable(status) == _comparable(previous):
        return Outcome(ready.reason, status)

    # A merge patch keeps fields it does not mention; those that no longer hold
    # (the URL of a Function that became invalid, say) are removed explicitly.
    patch: dict[str, Any] = {key: None for key in previous if key not in status}
    patch.update(status)
    patched = context.client.patch_status(
        namespace=meta["namespace"], name=meta["name"], status=patch)
    for type_, reason, message in _events(previous, status):
        level = logging.WARNING if type_ == "Warning" else logging.INFO
        logger.log(level, f"{reason}: {message}")
        # An event is a courtesy: losing one must not undo a reconcile that worked.
        try:
            context.client.post_event(body, type_=type_, reason=reason, message=message)
        except clients.ApiError as error:
            logger.warning(f"Could not post the {reason} event: {error}")
    return Outcome(ready.reason, status, body=patched)


def _comparable(status: specs.RawFunctionStatus) -> Any:
    # Transition times are kept while a condition holds, but a status patched by
    # an older operator may lack them; they never decide whether to patch.
    conditions = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                  for c in status.get("conditions") or []]
    return {**status, "conditions": conditions}


# Ready reasons a user should hear about when they start, with the event type.
_EVENT_TYPES = {
    statuses.INVALID_FUNCTION: "Warning",
    statuses.UNKNOWN_RUNTIME: "Warning",
    statuses.SOURCE_TOO_LARGE: "Warning",
    statuses.CONFLICT: "Warning",
    statuses.APPLY_FAILED: "Warning",
    statuses.DEPLOYMENT_FAILED: "Warning",
    statuses.DEPLOYING: "Normal",
    statuses.REPLICAS_READY: "Normal",
}
_EVENT_REASONS = {statuses.DEPLOYING: "Deployed", statuses.REPLICAS_READY: "Ready"}


def _events(
        previous: specs.RawFunctionStatus,
        status: specs.RawFunctionStatus,
) -> list[tuple[str, str, str]]:
    """The events a status change deserves: one per new Ready reason or new spec."""
    before = statuses.condition_of(previous, statuses.READY) or {}
    after = statuses.condition_of(status, statuses.READY) or {}
    reason = after.get("reason", "")
    is_new_reason = before.get("reason") != reason
    is_new_generation = previous.get("observedGeneration") != status.get("observedGeneration")
    if not is_new_reason and not is_new_generation:
        return []

    message = after.get("message", "")
    if reason == statuses.INVALID_FUNCTION:
        source = statuses.condition_of(status, statuses.SOURCE_VALID) or {}
        message = source.get("message", message)
    generation = status.get("observedGeneration")
    deployed = ("Normal", "Deployed", f"Applied generation {generation}; {message}")
    if not is_new_reason and reason in _EVENT_REASONS:
        return [deployed]
    event = (_EVENT_TYPES.get(reason, "Normal"), _EVENT_REASONS.get(reason, reason), message)
    # A status written late (after a burst) may find the rollout already over; the
    # user still hears that the new spec was deployed, then that it is ready.
    if reason == statuses.REPLICAS_READY and is_new_generation and (
            before.get("reason") != statuses.DEPLOYING):
        return [deployed, event]
    return [event]
