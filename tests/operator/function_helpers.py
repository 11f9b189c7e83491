"""Helpers for the operator's cluster tests: the operator process and Functions.

Kept apart from conftest.py so that tests can import them by a name of their own.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client

from kubeless_operator import builders, runtimes

REPO = Path(__file__).resolve().parents[2]
GREETING = (REPO / "examples" / "01-greeting" / "greeting.py").read_text()
EXTRA_RUNTIME = "python-fastapi-test"
EXTRA_IMAGE = "example.test/runtime:extra"
# Watch events reach the operator in well under a second; this is the bound the
# README documents for putting a child back, with room for a busy 2-core machine.
REPAIR_SECONDS = 10.0

T = TypeVar("T")


@dataclasses.dataclass
class Operator:
    process: subprocess.Popen[bytes]
    log: Path
    metrics_url: str

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_for(
        probe: Callable[[], T],
        *,
        timeout: float = 30,
        what: Callable[[], str] | str = "the condition",
        interval: float = 0.2,
) -> T:
    """Poll ``probe`` until it returns something truthy, or fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            description = what() if callable(what) else what
            pytest.fail(f"timed out after {timeout}s waiting for {description}")
        time.sleep(interval)


@dataclasses.dataclass
class Functions:
    """Functions and their children in one test namespace, through the real API."""

    api: client.ApiClient
    namespace: str
    operator: Operator

    def __post_init__(self) -> None:
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.autoscaling = client.AutoscalingV2Api(self.api)

    def manifest(self, name: str, **spec: Any) -> dict[str, Any]:
        return {
            "apiVersion": builders.API_VERSION,
            "kind": builders.KIND,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"function": GREETING, "handler": "greeting.get_greeting",
                     "runtime": runtimes.DEFAULT_RUNTIME, **spec},
        }

    def create(self, name: str, **spec: Any) -> dict[str, Any]:
        return self.create_manifest(self.manifest(name, **spec))

    def create_manifest(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return dict(self.custom.create_namespaced_custom_object(
            builders.GROUP, builders.VERSION, self.namespace, builders.PLURAL, manifest))

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return dict(self.custom.patch_namespaced_custom_object(
            builders.GROUP, builders.VERSION, self.namespace, builders.PLURAL, name, patch,
            _content_type="application/merge-patch+json"))

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.custom.get_namespaced_custom_object(
                builders.GROUP, builders.VERSION, self.namespace, builders.PLURAL, name))
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(
            builders.GROUP, builders.VERSION, self.namespace, builders.PLURAL, name)

    def condition(self, name: str, type_: str = "Ready") -> dict[str, Any] | None:
        body = self.get(name) or {}
        for condition in (body.get("status") or {}).get("conditions") or []:
            if condition.get("type") == type_:
                return dict(condition)
        return None

    def wait_reason(self, name: str, reason: str, *, timeout: float = 60) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            condition = self.condition(name)
            return condition if condition and condition.get("reason") == reason else None

        return wait_for(probe, timeout=timeout, what=lambda: (
            f"Function {name!r} to have Ready reason {reason!r}; it has "
            f"{self.condition(name)}\noperator log:\n{self.operator.tail()}"))

    def wait_ready(self, name: str, *, timeout: float = 60) -> dict[str, Any]:
        self.wait_reason(name, "ReplicasReady", timeout=timeout)
        return self.get(name) or {}

    def wait_child(self, kind: str, name: str, *, timeout: float = 30) -> dict[str, Any]:
        """The child once it exists; on timeout, what the Function and the operator say."""
        return wait_for(lambda: self.read(kind, name), timeout=timeout, what=lambda: (
            f"the {kind} {name!r}; the Function's status is "
            f"{(self.get(name) or {}).get('status')}\noperator log:\n{self.operator.tail()}"))

    def read(self, kind: str, name: str) -> dict[str, Any] | None:
        reader = {
            "ConfigMap": self.core.read_namespaced_config_map,
            "Service": self.core.read_namespaced_service,
            "Deployment": self.apps.read_namespaced_deployment,
            "HorizontalPodAutoscaler":
                self.autoscaling.read_namespaced_horizontal_pod_autoscaler,
        }[kind]
        try:
            response = reader(name, self.namespace, _preload_content=False)
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise
        return dict(json.loads(response.data))

    def events(self, name: str) -> list[dict[str, Any]]:
        response = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}",
            _preload_content=False)
        raw = json.loads(response.data)
        return [dict(event) for event in raw.get("items") or []
                if event["involvedObject"].get("kind") == builders.KIND]


