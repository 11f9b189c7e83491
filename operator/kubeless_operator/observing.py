"""What the operator last saw of each child, fed by watch events and apply responses.

The reconciler reads this instead of asking the API server again: whether a child
exists and who owns it, whether it still looks as the operator left it (so an
unchanged child is not applied again), and a Deployment's rollout state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

Key = tuple[str, str, str]  # kind, namespace, name


@dataclasses.dataclass(frozen=True)
class Observed:
    uid: str
    resource_version: str
    controller_uid: str | None
    fingerprint: str
    raw_rollout: Mapping[str, Any]  # generation, replicas and status, for Deployments


def key_of(raw: Mapping[str, Any]) -> Key:
    meta = raw["metadata"]
    return raw["kind"], meta.get("namespace", ""), meta["name"]


def controller_of(raw: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in raw.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def fingerprint(raw: Mapping[str, Any]) -> str:
    """A digest of what a user could edit by hand; status and server stamps left out."""
    meta = raw.get("metadata", {})
    edited = {
        "uid": meta.get("uid"),
        "labels": meta.get("labels"),
        "ownerReferences": meta.get("ownerReferences"),
        "spec": raw.get("spec"),
        "data": raw.get("data"),
    }
    return hashlib.sha256(json.dumps(edited, sort_keys=True).encode()).hexdigest()


class Observations:
    """A thread-safe map of children, written from the event loop and the workers."""

    def __init__(self) -> None:
        self._objects: dict[Key, Observed] = {}
        self._applied: dict[Key, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def observe(self, raw: Mapping[str, Any]) -> bool:
        """Record a child; say whether anything a reconcile looks at has changed."""
        meta = raw["metadata"]
        controller = controller_of(raw)
        observed = Observed(
            uid=meta["uid"],
            resource_version=meta.get("resourceVersion", ""),
            controller_uid=controller.get("uid") if controller else None,
            fingerprint=fingerprint(raw),
            raw_rollout={
                "metadata": {"generation": meta.get("generation", 0)},
                "spec": {"replicas": (raw.get("spec") or {}).get("replicas", 1)},
                "status": raw.get("status") or {},
            },
        )
        key = key_of(raw)
        with self._lock:
            current = self._objects.get(key)
            if current is not None and _is_older(observed, current):
                return False
            self._objects[key] = observed
        return current is None or (
            (current.uid, current.fingerprint, current.raw_rollout)
            != (observed.uid, observed.fingerprint, observed.raw_rollout)
        )

    def forget(self, key: Key) -> None:
        with self._lock:
            self._objects.pop(key, None)
            self._applied.pop(key, None)

    def forget_applied(self) -> None:
        """Make the next reconcile of every child apply it, changed or not."""
        with self._lock:
            self._applied.clear()

    def get(self, key: Key) -> Observed | None:
        with self._lock:
            return self._objects.get(key)

    def record_apply(self, key: Key, *, desired_hash: str, raw: Mapping[str, Any]) -> None:
        self.observe(raw)
        with self._lock:
            self._applied[key] = (desired_hash, fingerprint(raw))

    def is_unchanged(self, key: Key, *, desired_hash: str) -> bool:
        """Whether this exact desired state was applied and nobody changed it since."""
        with self._lock:
            applied = self._applied.get(key)
            current = self._objects.get(key)
        return (
            applied is not None
            and current is not None
            and applied == (desired_hash, current.fingerprint)
        )


def _is_older(new: Observed, current: Observed) -> bool:
    # An apply response and a watch event can arrive in either order; keep the newer.
    # resourceVersions are opaque by contract but etcd revisions in practice, so a
    # numeric comparison is tried and anything else counts as newer.
    if new.uid != current.uid:
        return False
    try:
        return int(new.resource_version) < int(current.resource_version)
    except ValueError:
        return False
