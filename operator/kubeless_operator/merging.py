"""Merging a user's partial Deployment into the generated one, as Kubernetes merges.

A strategic merge patch merges some lists item by item, matched on a key field
(containers by ``name``, mounts by ``mountPath``), and replaces the others. The
few lists a pod template merges that way are listed here; everything else follows
JSON merge semantics: maps merge, scalars and other lists are replaced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# List fields of a Deployment that Kubernetes merges by key (patchMergeKey).
MERGE_KEYS: Mapping[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
}


def merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` merged in; the overlay wins where both set a value."""
    result = dict(base)
    for key, value in overlay.items():
        current = result.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            result[key] = merge(current, value)
        elif isinstance(value, list) and isinstance(current, list) and key in MERGE_KEYS:
            result[key] = merge_list(current, value, key=MERGE_KEYS[key])
        else:
            result[key] = value
    return result


def merge_list(
        base: Sequence[Any],
        overlay: Sequence[Any],
        *,
        key: str,
) -> list[Any]:
    """Items of ``base`` in order, each merged with the overlay item of the same key;
    overlay items with a new key are appended."""
    overlay_by_key = {item.get(key): item for item in overlay if isinstance(item, Mapping)}
    result: list[Any] = []
    for item in base:
        match = overlay_by_key.pop(item.get(key), None) if isinstance(item, Mapping) else None
        result.append(item if match is None else merge(item, match))
    result.extend(item for item in overlay if item.get(key) in overlay_by_key)
    return result
