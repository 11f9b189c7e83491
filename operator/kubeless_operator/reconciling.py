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
        # Said along with the source's problems, so that a manifest brought from
        # Kubeless (runtime: python3.7) learns both at once.
        runtime_name = str((body.get("spec") or {}).get("runtime") or "")
        if context.runtimes.resolve(runtime_name) is None:
            error = specs.InvalidFunctionError(
                [*error.problems, context.runtimes.describe_unknown(runtime_name)])
        return _invalid(body, error, context=context, finish=finish)
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


def _invalid(
        body: Mapping[str, Any],
        error: specs.InvalidFunctionError,
        *,
        context: Context,
        finish: Callable[..., Outcome],
) -> Outcome:
    """The status of a Function whose spec cannot be deployed; its children stay as they are."""
    meta = body["metadata"]
    source = statuses.Condition(statuses.SOURCE_VALID, False, statuses.INVALID_FUNCTION,
                                "\n".join(error.problems))
    deployment = _controlled(("Deployment", meta["namespace"], meta["name"]),
                             uid=meta.get("uid"), context=context)
    if deployment is None:
        return finish([source, _not_ready(
            statuses.INVALID_FUNCTION,
            "Nothing is deployed until the source is valid; see SourceValid.")])

    # The children of the last valid spec are left alone, so the status keeps
    # telling how they run and where they answer.
    previous = cast(specs.RawFunctionStatus, body.get("status") or {})
    service = _controlled(("Service", meta["namespace"], meta["name"]),
                          uid=meta.get("uid"), context=context)
    url = previous.get("url") if service is not None else None
    ready = _not_ready(
        statuses.INVALID_FUNCTION,
        "The previous version keeps running; this change is not deployed until the "
        "source is valid (see SourceValid).")
    return finish([source, ready], rollout=statuses.rollout(deployment.raw_rollout), url=url)


def _controlled(
        key: observing.Key,
        *,
        uid: str | None,
        context: Context,
) -> observing.Observed | None:
    """The child as last observed, if this Function controls it."""
    observed = context.observations.get(key)
    if observed is None or observed.controller_uid != uid:
        return None
    return observed


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
        raise ConflictError(_describe_taken(taken))


def _describe_taken(taken: Sequence[str]) -> str:
    if len(taken) == 1:
        return (
            f"{taken[0]} already exists and this Function does not own it, so nothing "
            "was changed; delete or rename that object, or rename the Function."
        )
    listed = f"{', '.join(taken[:-1])} and {taken[-1]}"
    return (
        f"{listed} already exist and this Function owns none of them, so nothing was "
        "changed; delete or rename those objects, or rename the Function."
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
    try:
        applied = context.client.apply(raw, force=True)
    except clients.ApiError as error:
        if error.status != 422:
            raise
        applied = _recreate(raw, error, context=context, logger=logger)
    context.observations.record_apply(key, desired_hash=desired_hash, raw=applied)
    logger.debug(f"Applied {key[0]} {key[2]!r}.")
    return True


# Kinds whose object may be deleted and made anew when an apply cannot repair it.
# A ConfigMap's mounted copies and a Service's endpoints come back within moments,
# and an autoscaler only loses its history. A Deployment is left out: deleting it
# stops every replica at once, so a hand edit would become an outage; its
# ApplyFailed says what the API server refused, and deleting the Deployment by
# hand lets the operator recreate it.
RECREATABLE_KINDS = frozenset({"ConfigMap", "Service", "HorizontalPodAutoscaler"})


def _recreate(
        raw: Mapping[str, Any],
        error: clients.ApiError,
        *,
        context: Context,
        logger: Logger,
) -> clients.RawObject:
    """Delete and apply anew a child that a hand edit left beyond apply, or re-raise.

    Server-side apply merges with what other field managers set and cannot take
    away their list entries (a port list replaced by ``kubectl patch``, say), so
    the merged object can be invalid although the operator's own one is not.
    """
    key = observing.key_of(raw)
    observed = context.observations.get(key)
    controller = observing.controller_of(raw) or {}
    is_controlled = observed is not None and observed.controller_uid == controller.get("uid")
    if key[0] not in RECREATABLE_KINDS or observed is None or not is_controlled:
        raise error

    # An object that is invalid on its own is the spec's fault: deleting the
    # running child would then only take it away.
    if not context.client.accepts_new(raw):
        raise error
    logger.warning(f"Recreating {key[0]} {key[2]!r}: a hand edit left it in a state that "
                   f"applying cannot repair ({error.message}).")
    context.client.delete(clients.KINDS[key[0]], namespace=key[1], name=key[2],
                          uid=observed.uid)
    context.observations.forget(key)
    return context.client.apply(raw, force=True)


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
            # In a namespace being deleted no one is left to read the event.
            level = logging.DEBUG if error.is_namespace_terminating else logging.WARNING
            logger.log(level, f"Could not post the {reason} event: {error}")
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
