"""The kopf handlers: watch Functions and their children, and feed the work queue.

Handlers only observe. A Function event records the Function's latest body, a
child event records the child; both then queue the Function, and the workers
started here reconcile it. No handler writes to the Function, so kopf keeps no
bookkeeping on it: no finalizer, no last-handled-configuration annotation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import logging
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

import kopf

from kubeless_operator import (
    builders,
    clients,
    metrics,
    observing,
    persistence,
    queueing,
    reconciling,
    scope,
)

FunctionKey = tuple[str, str]  # namespace, name
# Each child kind, and the kopf index of who controls every object of that kind.
CHILD_RESOURCES = {
    "ConfigMap": (("v1", "configmaps"), "configmap_owners"),
    "Service": (("v1", "services"), "service_owners"),
    "Deployment": (("apps", "v1", "deployments"), "deployment_owners"),
    "HorizontalPodAutoscaler": (
        ("autoscaling", "v2", "horizontalpodautoscalers"), "autoscaler_owners"),
}

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Memo:
    """The operator's shared state, given to kopf as its ``memo``."""

    context: reconciling.Context
    executor: concurrent.futures.ThreadPoolExecutor
    workers: int = 8
    resync_seconds: float = 300.0
    scope: scope.NamespaceScope = dataclasses.field(default_factory=scope.NamespaceScope)
    queue: queueing.WorkQueue[FunctionKey] = dataclasses.field(
        default_factory=queueing.WorkQueue)
    functions: MutableMapping[FunctionKey, Mapping[str, Any]] = dataclasses.field(
        default_factory=dict)
    triggers: MutableMapping[FunctionKey, tuple[Any, ...]] = dataclasses.field(
        default_factory=dict)
    statuses: MutableMapping[FunctionKey, Mapping[str, Any]] = dataclasses.field(
        default_factory=dict)
    """The status each Function was last reconciled to, to notice one edited by hand."""
    tasks: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)
    owners: dict[str, Mapping[tuple[str, str], Any]] = dataclasses.field(default_factory=dict)

    def owner_of(self, key: observing.Key) -> str | None:
        """The controller uid of a child as watched ("" for none); None if absent."""
        kind, namespace, name = key
        store = self.owners[kind].get((namespace, name))
        return next(iter(store), None) if store is not None else None


class ObjectLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with the Function's ``[namespace/name]``."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return f"[{self.extra['key'] if self.extra else ''}] {msg}", kwargs


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf settings this operator relies on."""
    # One operator per cluster is expected; peering would need its own CRDs.
    settings.peering.standalone = True
    # Events are posted by the reconciler, only for what a user should see.
    settings.posting.enabled = False
    settings.persistence.diffbase_storage = persistence.NoDiffBaseStorage()
    settings.persistence.progress_storage = persistence.NoProgressStorage()


def _in_scope(namespace: str | None, memo: Memo, **_: Any) -> bool:
    # Only a --namespace glob makes kopf watch more than it serves (see scope);
    # otherwise kopf's own scoping is exact, and this runs for every event.
    return not memo.scope.has_globs or memo.scope.covers(namespace)


async def _index_owner(body: kopf.Body, **_: Any) -> dict[tuple[str, str], str]:
    controller = observing.controller_of(body)
    owner = str(controller.get("uid", "")) if controller else ""
    return {(body.metadata.namespace or "", body.metadata.name or ""): owner}


# Who controls every object that could be a child, including objects the operator
# did not make: a name taken by someone else is a conflict, never applied over.
# kopf fills these indexes from its initial listings before any handler runs, so
# a missing name really is free (as far as the watch has seen).
for _resource, _index_id in CHILD_RESOURCES.values():
    kopf.index(*_resource, id=_index_id, when=_in_scope)(_index_owner)


@kopf.on.startup()
async def start_workers(memo: Memo, **kwargs: Any) -> None:
    memo.owners.update({kind: kwargs[index_id]
                        for kind, (_, index_id) in CHILD_RESOURCES.items()})
    for number in range(memo.workers):
        memo.tasks.append(asyncio.create_task(_work(memo), name=f"reconciler-{number}"))
    memo.tasks.append(asyncio.create_task(_resync(memo), name="resync"))


@kopf.on.cleanup()
async def stop_workers(memo: Memo, **_: Any) -> None:
    for task in memo.tasks:
        task.cancel()
    await asyncio.gather(*memo.tasks, return_exceptions=True)
    memo.queue.close()
    memo.executor.shutdown(wait=False, cancel_futures=True)


# The handlers are coroutines so that kopf runs them on the event loop, where the
# work queue lives; kopf would hand plain functions to a thread, at a cost per event.
@kopf.on.event(builders.GROUP, builders.VERSION, builders.PLURAL, when=_in_scope)
async def function_event(type: str | None, body: kopf.Body, memo: Memo, **_: Any) -> None:
    meta = body.metadata
    key: FunctionKey = (meta.namespace or "", meta.name or "")
    if type == "DELETED":
        memo.functions.pop(key, None)
        memo.triggers.pop(key, None)
        memo.statuses.pop(key, None)
        metrics.FUNCTIONS.set(len(memo.functions))
        return

    is_fresh = _remember(memo, key, dict(body))
    metrics.FUNCTIONS.set(len(memo.functions))

    # The operator's own status patches come back as events too; only a change a
    # user made (spec, labels, a new object) needs a reconcile.
    trigger = (meta.uid, body.get("metadata", {}).get("generation"), dict(meta.labels))
    if memo.triggers.get(key) != trigger:
        memo.triggers[key] = trigger
        _enqueue(memo, key, urgent=True)
    elif is_fresh and key in memo.statuses and (
            (body.get("status") or {}) != memo.statuses[key]):
        # Someone else wrote the status since the last reconcile, or this is the
        # event of the operator's own patch, come before the patch's response was
        # recorded; the reconcile that follows writes a hand edit back, and finds
        # its own patch already true without a call.
        _enqueue(memo, key)


async def _child_event(type: str | None, body: kopf.Body, memo: Memo, **_: Any) -> None:
    raw = dict(body)
    key = observing.key_of(raw)
    controller = observing.controller_of(raw)
    is_child = controller is not None and controller.get("kind") == builders.KIND

    # Only a Function's children are remembered in detail; another object of a
    # Function's name matters only as a conflict that may have just gone away.
    if type == "DELETED":
        memo.context.observations.forget(key)
        is_changed = True
    else:
        is_changed = memo.context.observations.observe(raw) if is_child else True

    owner = str(controller.get("name")) if controller and is_child else key[2]
    function_key: FunctionKey = (key[1], owner)
    if is_changed and function_key in memo.functions:
        _enqueue(memo, function_key)


for _resource, _index_id in CHILD_RESOURCES.values():
    kopf.on.event(*_resource, id=f"child-{_resource[-1]}", when=_in_scope)(_child_event)


def _remember(memo: Memo, key: FunctionKey, raw: Mapping[str, Any]) -> bool:
    """Keep the newer of ``raw`` and the body remembered; say whether ``raw`` was kept."""
    # A status patch's response and the watch event that follows it carry the same
    # object; whichever is newer wins, so a late event never rolls the status back.
    current = memo.functions.get(key)
    if current is not None and _is_older(raw, current):
        return False
    memo.functions[key] = raw
    return True


def _is_older(raw: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    new_meta, old_meta = raw.get("metadata", {}), current.get("metadata", {})
    if new_meta.get("uid") != old_meta.get("uid"):
        return False
    try:
        return int(new_meta.get("resourceVersion")) < int(old_meta.get("resourceVersion"))
    except (TypeError, ValueError):
        return False


def _enqueue(memo: Memo, key: FunctionKey, *, urgent: bool = False) -> None:
    memo.queue.add(key, urgent=urgent)
    metrics.QUEUE_DEPTH.set(len(memo.queue))


async def _work(memo: Memo) -> None:
    while True:
        key, is_urgent = await memo.queue.get()
        try:
            await _reconcile(memo, key, defer_status=is_urgent)
        finally:
            memo.queue.done(key)
            metrics.QUEUE_DEPTH.set(len(memo.queue))


async def _reconcile(memo: Memo, key: FunctionKey, *, defer_status: bool) -> None:
    body = memo.functions.get(key)
    if body is None or body.get("metadata", {}).get("deletionTimestamp"):
        return  # deleted: the garbage collector removes the children

    object_logger = ObjectLogger(logger, {"key": f"{key[0]}/{key[1]}"})
    loop = asyncio.get_running_loop()
    call = functools.partial(
        reconciling.reconcile,
        body, context=memo.context, logger=object_logger, defer_status=defer_status)
    started = time.monotonic()
    try:
        outcome = await loop.run_in_executor(memo.executor, call)
    except clients.ApiError as error:
        if error.is_namespace_terminating:
            # The namespace's deletion takes the Function too; retrying would only
            # be refused again until then.
            memo.queue.forget_failures(key)
            object_logger.debug(f"Not reconciled: its namespace is being deleted ({error}).")
            return
        # A 404 here usually means the Function went away mid-reconcile; the retry
        # then finds it gone and stops.
        _retry(memo, key, object_logger, f"the API server answered {error}")
        return
    except Exception as error:
        object_logger.exception("Reconcile failed unexpectedly.")
        _retry(memo, key, object_logger, repr(error))
        return
    finally:
        metrics.DURATION.observe(time.monotonic() - started)

    metrics.RECONCILES.labels(result=outcome.result).inc()
    memo.queue.forget_failures(key)
    if not outcome.is_status_deferred:
        # As the API server returned it, when patched: what its events will carry.
        written = outcome.body.get("status") if outcome.body else None
        memo.statuses[key] = written or outcome.status
    if outcome.body:
        _remember(memo, key, outcome.body)
    if outcome.is_status_deferred:
        _enqueue(memo, key)
    ready = outcome.status.get("readyReplicas")
    object_logger.debug(f"Reconciled: {outcome.result} ({ready} ready).")


def _retry(memo: Memo, key: FunctionKey, object_logger: ObjectLogger, reason: str) -> None:
    metrics.FAILURES.inc()
    delay = memo.queue.retry(key)
    object_logger.warning(f"Reconcile failed, will try again in {delay:.1f}s: {reason}")


async def _resync(memo: Memo) -> None:
    """Reconcile every Function now and then, applying even unchanged children.

    Watch events drive everything; this only bounds the damage of an event the
    watch lost (a child deleted while the stream was reconnecting, say).
    """
    while True:
        await asyncio.sleep(memo.resync_seconds)
        memo.context.observations.forget_applied()
        for key in list(memo.functions):
            _enqueue(memo, key)
