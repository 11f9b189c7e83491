"""The Kubernetes API as the reconciler uses it: apply, read, delete, status, events.

A thin wrapper over the official client's typed APIs. Responses are decoded as
plain JSON (the client's model classes are slow to build and not needed), and the
client's exceptions become :class:`ApiError`, which says whether retrying can help.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client

from kubeless_operator import builders

RawObject = dict[str, Any]
# The cause the API server gives for a write refused in a namespace being deleted.
NAMESPACE_TERMINATING = "NamespaceTerminating"
# How server-side apply words (as a 500) a patch whose values do not fit the
# object's schema: a string for a number, a fraction for a whole one.
TYPED_PATCH_REFUSALS = ("failed to create typed patch object", "cannot convert")


class ApiError(Exception):
    """A refused or failed API call, with the server's own message."""

    def __init__(self, status: int, message: str, *, causes: frozenset[str] = frozenset()) -> None:
        self.status = status
        self.message = message
        self.causes = causes  # the reasons in the Status's details.causes
        super().__init__(f"{status}: {message}")

    @property
    def is_not_found(self) -> bool:
        return self.status == 404

    @property
    def is_namespace_terminating(self) -> bool:
        # Nothing can be created in a namespace being deleted, and whatever is in
        # it (the Function included) is about to go.
        return NAMESPACE_TERMINATING in self.causes

    @property
    def is_permanent(self) -> bool:
        # The object itself is refused: retrying the same request cannot help,
        # only a change of the Function's spec can. Server-side apply answers a
        # value of the wrong type (minReadySeconds: "soon") with a 500 of these wordings.
        return self.status in {400, 422} or (
            self.status == 500 and any(text in self.message for text in TYPED_PATCH_REFUSALS))


@dataclasses.dataclass(frozen=True)
class Kind:
    """A child kind and the typed API calls that handle it."""

    kind: str
    api: str  # attribute of Client holding the typed API
    suffix: str  # as in patch_namespaced_<suffix>


CONFIG_MAP = Kind("ConfigMap", "core", "config_map")
DEPLOYMENT = Kind("Deployment", "apps", "deployment")
SERVICE = Kind("Service", "core", "service")
AUTOSCALER = Kind("HorizontalPodAutoscaler", "autoscaling", "horizontal_pod_autoscaler")
KINDS = {kind.kind: kind for kind in (CONFIG_MAP, DEPLOYMENT, SERVICE, AUTOSCALER)}


class Client:
    def __init__(self, api_client: client.ApiClient, *, timeout: float = 30) -> None:
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.autoscaling = client.AutoscalingV2Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.timeout = timeout

    def apply(self, body: Mapping[str, Any], *, force: bool) -> RawObject:
        """Server-side apply ``body`` as the operator's one field manager."""
        kind = KINDS[body["kind"]]
        meta = body["metadata"]
        return self._call(
            kind, "patch",
            meta["name"], meta["namespace"], dict(body),
            field_manager=builders.FIELD_MANAGER,
            force=force,
            _content_type="application/apply-patch+yaml",
        )

    def accepts_new(self, body: Mapping[str, Any]) -> bool:
        """Whether the API server would create ``body`` as a new object (a dry run)."""
        kind = KINDS[body["kind"]]
        try:
            self._call(kind, "create", body["metadata"]["namespace"], dict(body),
                       dry_run="All")
        except ApiError as error:
            # Validation comes before the name lookup, so "already exists" means
            # the object itself was accepted.
            if error.status == 409:
                return True
            if error.is_permanent:
                return False
            raise
        return True

    def read(self, kind: Kind, *, namespace: str, name: str) -> RawObject | None:
        try:
            return self._call(kind, "read", name, namespace)
        except ApiError as error:
            if error.is_not_found:
                return None
            raise

    def delete(self, kind: Kind, *, namespace: str, name: str, uid: str) -> None:
        # The uid precondition makes sure the object deleted is the one inspected.
        options = {"preconditions": {"uid": uid}, "propagationPolicy": "Background"}
        try:
            self._call(kind, "delete", name, namespace, body=options)
        except ApiError as error:
            if not error.is_not_found and error.status != 409:
                raise

    def patch_status(
            self, *, namespace: str, name: str, status: Mapping[str, Any],
    ) -> RawObject:
        call = self.custom.patch_namespaced_custom_object_status
        return _invoke(
            call,
            builders.GROUP, builders.VERSION, namespace, builders.PLURAL, name,
            {"status": dict(status)},
            _content_type="application/merge-patch+json",
            _request_timeout=self.timeout,
            _preload_content=False,
        )

    def post_event(
            self,
            function: Mapping[str, Any],
            *,
            type_: str,
            reason: str,
            message: str,
    ) -> None:
        meta = function["metadata"]
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "metadata": {
                "namespace": meta["namespace"],
                "name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
            },
            "involvedObject": {
                "apiVersion": builders.API_VERSION,
                "kind": builders.KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "type": type_,
            "reason": reason,
            # The API server refuses event messages over 1 KiB.
            "message": message[:1000],
            "source": {"component": builders.FIELD_MANAGER},
            "reportingComponent": builders.FIELD_MANAGER,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        _invoke(
            self.core.create_namespaced_event, meta["namespace"], body,
            _request_timeout=self.timeout, _preload_content=False,
        )

    def _call(self, kind: Kind, verb: str, *args: Any, **kwargs: Any) -> RawObject:
        api = getattr(self, kind.api)
        call = getattr(api, f"{verb}_namespaced_{kind.suffix}")
        return _invoke(call, *args, _request_timeout=self.timeout, _preload_content=False,
                       **kwargs)


def _invoke(call: Callable[..., Any], *args: Any, **kwargs: Any) -> RawObject:
    try:
        response = call(*args, **kwargs)
    except client.ApiException as error:
        raise ApiError(error.status or 0, message_of(error),
                       causes=causes_of(error)) from error
    data = response.data
    return json.loads(data) if data else {}


def causes_of(error: client.ApiException) -> frozenset[str]:
    """The machine-readable reasons a refusal's Status lists, if any."""
    try:
        causes = json.loads(error.body or "")["details"]["causes"]
        return frozenset(str(cause["reason"]) for cause in causes if "reason" in cause)
    except (ValueError, KeyError, TypeError):
        return frozenset()


def message_of(error: client.ApiException) -> str:
    """The server's own message in a refusal, else the HTTP reason."""
    try:
        return str(json.loads(error.body or "")["message"])
    except (ValueError, KeyError, TypeError):
        return str(error.reason or error.body or "no message")
