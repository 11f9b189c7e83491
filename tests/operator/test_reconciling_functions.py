"""What a user sees when they apply Functions, on the real local control plane.

One test per behaviour of the operator, in the order the README lists them.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from function_helpers import (
    EXTRA_IMAGE,
    EXTRA_RUNTIME,
    GREETING,
    REPAIR_SECONDS,
    Functions,
    wait_for,
)
from kubernetes import client

from kubeless_operator import builders, runtimes

pytestmark = pytest.mark.cluster

CHILDREN = ("ConfigMap", "Deployment", "Service")


def container_of(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return dict(next(c for c in containers if c["name"] == name))


def env_of(container: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(e["name"], e.get("value", e.get("valueFrom"))) for e in container.get("env", [])]


def pod_hash(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["metadata"]["annotations"][
        builders.POD_HASH_ANNOTATION])


def test_invalid_source_sets_ready_false_with_each_problem_and_creates_nothing(
        functions: Functions) -> None:
    source = GREETING.replace("def get_greeting(event, context):", "def get_greeting(event):")
    source = source.replace('FUNCTION_NAME = "greeting"\n', "")
    line = source.splitlines().index("def get_greeting(event):") + 1
    functions.create("broken", function=source)

    ready = functions.wait_reason("broken", "InvalidFunction")
    source_valid = functions.condition("broken", "SourceValid") or {}

    assert ready["status"] == "False"
    assert ready["message"].startswith("Nothing is deployed until the source is valid")
    assert source_valid["status"] == "False"
    assert "greeting.py: FUNCTION_NAME is missing" in source_valid["message"]
    assert f"greeting.py:{line}: handler 'get_greeting' must accept" in source_valid["message"]
    assert all(functions.read(kind, "broken") is None for kind in CHILDREN)

    # No retry loop: once reported, the Function is left alone until it changes.
    version = (functions.get("broken") or {})["metadata"]["resourceVersion"]
    time.sleep(3)
    assert (functions.get("broken") or {})["metadata"]["resourceVersion"] == version
    assert all(functions.read(kind, "broken") is None for kind in CHILDREN)


def test_spec_parts_of_the_wrong_shape_or_type_get_a_status_not_retries(
        functions: Functions) -> None:
    # Open fields the CRD cannot check: the operator's own check names this one ...
    functions.create("shapeless", deployment={"spec": {"template": "x"}})
    # ... and the API server's typed apply refuses that one, for good.
    functions.create("typeless", deployment={"spec": {"minReadySeconds": "soon"}})

    shapeless = functions.wait_reason("shapeless", "InvalidFunction")
    assert shapeless["status"] == "False"
    typeless = functions.wait_reason("typeless", "ApplyFailed")
    source_valid = functions.condition("shapeless", "SourceValid") or {}

    assert "spec.deployment.spec.template is 'x'" in source_valid["message"]
    assert "minReadySeconds" in typeless["message"]
    assert all(functions.read(kind, "shapeless") is None for kind in CHILDREN)
    # Reported once, then left alone until the spec changes.
    version = (functions.get("typeless") or {})["metadata"]["resourceVersion"]
    time.sleep(3)
    assert (functions.get("typeless") or {})["metadata"]["resourceVersion"] == version


@pytest.mark.parametrize(
    "name",
    [pytest.param("my.func", id="dot"), pytest.param("f" * 64, id="64-characters")],
)
def test_a_name_that_cannot_name_a_service_is_refused_at_apply(
        functions: Functions, name: str) -> None:
    with pytest.raises(client.ApiException) as error:
        functions.create(name)

    assert error.value.status == 422
    assert f"'{name}' cannot name a Function" in str(error.value.body)
    assert "DNS-1035 label" in str(error.value.body)
    assert all(functions.read(kind, name) is None for kind in CHILDREN)


def test_an_invalid_change_keeps_the_previous_version_running_and_says_so(
        functions: Functions) -> None:
    functions.create("kept")
    status = functions.wait_ready("kept")["status"]
    before = functions.read("Deployment", "kept") or {}

    functions.patch("kept", {"spec": {"handler": "greeting.greet"}})
    ready = functions.wait_reason("kept", "InvalidFunction")

    assert ready["message"].startswith("The previous version keeps running; this change is "
                                       "not deployed until the source is valid")
    after = (functions.get("kept") or {})["status"]
    assert after["url"] == status["url"]
    assert (after["replicas"], after["readyReplicas"]) == (1, 1)
    assert pod_hash(functions.read("Deployment", "kept") or {}) == pod_hash(before)


def test_runtime_names_resolve_through_the_configured_runtime_table(
        functions: Functions) -> None:
    functions.create("default-runtime")
    functions.create("extra-runtime", runtime=EXTRA_RUNTIME)
    functions.create("old-runtime", runtime="python3.7")

    unknown = functions.wait_reason("old-runtime", "UnknownRuntime")
    functions.wait_child("Deployment", "extra-runtime")
    default = functions.wait_child("Deployment", "default-runtime")
    extra = functions.read("Deployment", "extra-runtime") or {}

    assert container_of(default, "default-runtime")["image"] == runtimes.DEFAULT_IMAGE
    assert container_of(extra, "extra-runtime")["image"] == EXTRA_IMAGE
    assert f"known runtimes: {EXTRA_RUNTIME}, {runtimes.DEFAULT_RUNTIME}." in unknown["message"]
    assert functions.read("Deployment", "old-runtime") is None


def test_an_invalid_source_on_an_unknown_runtime_is_told_both_at_once(
        functions: Functions) -> None:
    source = GREETING.replace('FUNCTION_NAME = "greeting"\n', "")
    functions.create("from-kubeless", function=source, runtime="python3.7")

    functions.wait_reason("from-kubeless", "InvalidFunction")
    message = (functions.condition("from-kubeless", "SourceValid") or {})["message"]

    assert "FUNCTION_NAME is missing" in message
    assert "runtime 'python3.7' is not in the operator's runtime table" in message


def test_function_becomes_children_applied_server_side_and_controlled_by_it(
        functions: Functions) -> None:
    created = functions.create("greeting", deps="requests==2.32.3\n", timeout="42",
                               service={"ports": [{"port": 80, "targetPort": 9000}]})
    functions.wait_ready("greeting")

    for kind in CHILDREN:
        child = functions.read(kind, "greeting") or {}
        [owner] = child["metadata"]["ownerReferences"]
        assert (owner["uid"], owner["controller"]) == (created["metadata"]["uid"], True)
        managers = {(m["manager"], m["operation"]) for m in child["metadata"]["managedFields"]}
        assert (builders.FIELD_MANAGER, "Apply") in managers
        assert child["metadata"]["labels"]["created-by"] == "kubeless"
        assert child["metadata"]["labels"]["app.kubernetes.io/instance"] == "greeting"

    config_map = functions.read("ConfigMap", "greeting") or {}
    assert config_map["data"]["greeting.py"] == GREETING
    assert config_map["data"]["requirements.txt"] == "requests==2.32.3\n"

    deployment = functions.read("Deployment", "greeting") or {}
    pod = deployment["spec"]["template"]["spec"]
    container = container_of(deployment, "greeting")
    env = env_of(container)
    assert [name for name, _ in env].count("FUNC_TIMEOUT") == 1
    assert ("FUNC_TIMEOUT", "42") in env
    assert ("FUNC_PORT", "9000") in env
    assert {"name": "source", "mountPath": "/kubeless", "readOnly": True} in (
        container["volumeMounts"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["initContainers"][0]["name"] == builders.INIT_CONTAINER

    service = functions.read("Service", "greeting") or {}
    assert service["spec"]["ports"][0]["port"] == 80
    assert service["spec"]["ports"][0]["targetPort"] == 9000
    assert functions.read("HorizontalPodAutoscaler", "greeting") is None


def test_changes_that_restart_pods_roll_out_and_label_only_changes_do_not(
        functions: Functions) -> None:
    functions.create("rolling")
    functions.wait_ready("rolling")
    first = functions.read("Deployment", "rolling") or {}

    functions.patch("rolling", {"metadata": {"labels": {"team": "blue"}}})
    labelled = wait_for(lambda: (d := functions.read("Deployment", "rolling"))
                        and d["metadata"]["labels"].get("team") == "blue" and d,
                        what="the Function's label on the Deployment")
    assert labelled["metadata"]["generation"] == first["metadata"]["generation"]
    assert pod_hash(labelled) == pod_hash(first)

    functions.patch("rolling", {"spec": {"function": GREETING + "\n# a new revision\n"}})
    rolled = wait_for(lambda: (d := functions.read("Deployment", "rolling"))
                      and pod_hash(d) != pod_hash(first) and d,
                      what="a new pod hash after the source changed")
    assert rolled["metadata"]["generation"] > first["metadata"]["generation"]
    functions.wait_ready("rolling")


def test_autoscaler_is_applied_when_asked_and_removed_when_the_field_goes(
        functions: Functions) -> None:
    autoscaler = {"spec": {"minReplicas": 1, "maxReplicas": 3, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 60}}]}}
    functions.create("scaled", horizontalPodAutoscaler=autoscaler)

    hpa = functions.wait_child("HorizontalPodAutoscaler", "scaled")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "scaled"
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60

    functions.patch("scaled", {"spec": {"horizontalPodAutoscaler": None}})
    wait_for(lambda: functions.read("HorizontalPodAutoscaler", "scaled") is None,
             what="the autoscaler to be removed")


def test_spec_deployment_merges_by_name_keeping_user_env_and_resources(
        functions: Functions) -> None:
    user = {"spec": {"replicas": 2, "template": {"spec": {"containers": [{
        "image": "someone-else:latest",
        "env": [{"name": "GREETING", "value": "hi"}, {"name": "FUNC_TIMEOUT", "value": "1"}],
        "resources": {"limits": {"memory": "128Mi", "cpu": "500m"}},
    }, {"name": "sidecar", "image": "example.test/proxy:1"}]}}}}
    functions.create("merged", deployment=user, timeout="30")
    functions.wait_ready("merged")

    deployment = functions.read("Deployment", "merged") or {}
    container = container_of(deployment, "merged")
    env = env_of(container)

    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == runtimes.DEFAULT_IMAGE
    assert container["command"] == ["kubeless-fastapi", "serve", "--host", "0.0.0.0"]
    assert ("GREETING", "hi") in env
    assert [name for name, _ in env].count("FUNC_TIMEOUT") == 1
    assert ("FUNC_TIMEOUT", "30") in env
    assert container["resources"]["limits"] == {"memory": "128Mi", "cpu": "500m"}
    assert container_of(deployment, "sidecar")["image"] == "example.test/proxy:1"


def test_an_object_the_function_does_not_own_is_never_changed(functions: Functions) -> None:
    functions.core.create_namespaced_config_map(functions.namespace, {
        "metadata": {"name": "taken"}, "data": {"mine": "yes"}})
    before = functions.read("ConfigMap", "taken") or {}
    functions.create("taken")

    ready = functions.wait_reason("taken", "Conflict")

    assert ready["status"] == "False"
    assert ready["message"].startswith(
        "ConfigMap 'taken' already exists and this Function does not own it, so nothing "
        "was changed;")
    after = functions.read("ConfigMap", "taken") or {}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["data"] == {"mine": "yes"}
    assert functions.read("Deployment", "taken") is None
    assert functions.read("Service", "taken") is None

    # Once its owner removes the object, the name is free and the Function deploys.
    functions.core.delete_namespaced_config_map("taken", functions.namespace)
    functions.wait_ready("taken")


def test_a_conflict_over_several_objects_names_them_all_in_one_sentence(
        functions: Functions) -> None:
    functions.core.create_namespaced_config_map(functions.namespace, {
        "metadata": {"name": "crowded"}, "data": {"mine": "yes"}})
    functions.core.create_namespaced_service(functions.namespace, {
        "metadata": {"name": "crowded"}, "spec": {"ports": [{"port": 80}]}})
    functions.create("crowded")

    ready = functions.wait_reason("crowded", "Conflict")

    assert ready["message"].startswith(
        "ConfigMap 'crowded' and Service 'crowded' already exist and this Function owns "
        "none of them, so nothing was changed;")


def test_status_reports_generation_conditions_replicas_and_url_following_the_deployment(
        functions: Functions) -> None:
    created = functions.create("observed")
    body = functions.wait_ready("observed")
    status = body["status"]

    assert status["observedGeneration"] == created["metadata"]["generation"]
    assert (functions.condition("observed", "SourceValid") or {})["status"] == "True"
    assert (status["replicas"], status["readyReplicas"]) == (1, 1)
    assert status["url"] == f"http://observed.{functions.namespace}.svc.cluster.local:8080"

    # A rollout that cannot finish (no node matches) makes the Function not ready,
    # and Ready comes back when the Deployment can finish again.
    functions.patch("observed", {"spec": {"deployment": {"spec": {"template": {"spec": {
        "nodeSelector": {"example.test/no-such-node": "true"}}}}}}})
    waiting = functions.wait_reason("observed", "Deploying")
    assert waiting["status"] == "False"
    functions.patch("observed", {"spec": {"deployment": None}})
    functions.wait_ready("observed")


def test_a_status_edited_by_hand_is_put_back_within_the_bound(functions: Functions) -> None:
    source = GREETING.replace('FUNCTION_NAME = "greeting"\n', "")
    functions.create("claimed", function=source)
    told = functions.wait_reason("claimed", "InvalidFunction")

    functions.custom.patch_namespaced_custom_object_status(
        builders.GROUP, builders.VERSION, functions.namespace, builders.PLURAL, "claimed",
        {"status": {"conditions": [{**told, "status": "True", "reason": "ReplicasReady"}]}},
        _content_type="application/merge-patch+json")

    restored = functions.wait_reason("claimed", "InvalidFunction", timeout=REPAIR_SECONDS)
    assert restored["status"] == "False"


def test_children_deleted_or_edited_by_hand_are_put_back_within_the_bound(
        functions: Functions) -> None:
    functions.create("repaired")
    functions.wait_ready("repaired")
    deployment = functions.read("Deployment", "repaired") or {}

    functions.apps.delete_namespaced_deployment("repaired", functions.namespace)
    wait_for(lambda: (d := functions.read("Deployment", "repaired"))
             and d["metadata"]["uid"] != deployment["metadata"]["uid"],
             timeout=REPAIR_SECONDS, what="the deleted Deployment to be recreated")

    functions.core.patch_namespaced_config_map(
        "repaired", functions.namespace, {"data": {"greeting.py": "print('edited')\n"}})
    wait_for(lambda: ((functions.read("ConfigMap", "repaired") or {})
                      .get("data", {}).get("greeting.py") == GREETING),
             timeout=REPAIR_SECONDS, what="the edited ConfigMap to be restored")

    functions.apps.patch_namespaced_deployment(
        "repaired", functions.namespace, {"spec": {"replicas": 3}})
    wait_for(lambda: (functions.read("Deployment", "repaired") or {})["spec"]["replicas"] == 1,
             timeout=REPAIR_SECONDS, what="the scaled Deployment to be set back")

    functions.core.delete_namespaced_service("repaired", functions.namespace)
    wait_for(lambda: functions.read("Service", "repaired"),
             timeout=REPAIR_SECONDS, what="the deleted Service to be recreated")
    functions.wait_ready("repaired")


def test_a_service_whose_ports_were_replaced_by_hand_is_made_anew(
        functions: Functions) -> None:
    functions.create("reported")
    functions.wait_ready("reported")
    service = functions.read("Service", "reported") or {}

    # A merge patch replaces the whole list, and the entry it adds belongs to
    # another field manager, which server-side apply cannot take away.
    functions.core.patch_namespaced_service(
        "reported", functions.namespace,
        {"spec": {"ports": [{"port": 9999, "targetPort": 1}]}},
        _content_type="application/merge-patch+json")

    recreated = wait_for(
        lambda: (s := functions.read("Service", "reported"))
        and s["metadata"]["uid"] != service["metadata"]["uid"] and s,
        timeout=REPAIR_SECONDS, what="the Service to be made anew")
    assert [(p["port"], p["targetPort"]) for p in recreated["spec"]["ports"]] == [
        (8080, 8080)]
    functions.wait_ready("reported")

    # A Service that is invalid on its own is the spec's fault: the running one stays.
    functions.patch("reported", {"spec": {"service": {"type": "Bogus"}}})
    refused = functions.wait_reason("reported", "ApplyFailed")
    assert "Bogus" in refused["message"]
    kept = functions.read("Service", "reported") or {}
    assert kept["metadata"]["uid"] == recreated["metadata"]["uid"]


def test_deleting_a_function_removes_its_children_through_owner_references(
        functions: Functions) -> None:
    functions.create("doomed")
    body = functions.wait_ready("doomed")
    assert not body["metadata"].get("finalizers")

    functions.delete("doomed")

    wait_for(lambda: functions.get("doomed") is None, timeout=10,
             what="the Function to go without waiting on a finalizer")
    wait_for(lambda: all(functions.read(kind, "doomed") is None for kind in CHILDREN),
             timeout=60, what="the garbage collector to remove the children")


def test_events_tell_the_user_about_invalid_source_deployment_readiness_and_conflicts(
        functions: Functions) -> None:
    functions.create("eventful")
    functions.create("invalid", handler="greeting.greet")
    functions.core.create_namespaced_service(functions.namespace, {
        "metadata": {"name": "clash"}, "spec": {"ports": [{"port": 80}]}})
    functions.create("clash")
    functions.wait_ready("eventful")

    def reasons(name: str) -> set[str]:
        return {event["reason"] for event in functions.events(name)}

    wait_for(lambda: {"Deployed", "Ready"} <= reasons("eventful"),
             what=lambda: f"Deployed and Ready events, got {reasons('eventful')}")
    wait_for(lambda: "InvalidFunction" in reasons("invalid"), what="an InvalidFunction event")
    wait_for(lambda: "Conflict" in reasons("clash"), what="a Conflict event")
    [invalid] = [e for e in functions.events("invalid") if e["reason"] == "InvalidFunction"]
    assert invalid["type"] == "Warning"
    assert "must start with its HTTP method" in invalid["message"]


def test_sources_up_to_the_config_map_limit_work_and_larger_ones_create_nothing(
        functions: Functions) -> None:
    # Just under the limit once the other keys are counted, and far over what
    # kopf's annotations (256 KiB for all of them) could hold.
    padding = "#" * 1000 + "\n"
    big = GREETING + padding * ((builders.CONFIG_MAP_LIMIT - len(GREETING) - 2048) // 1001)
    functions.create("big", function=big)
    functions.create("huge", function=GREETING + padding * 1100)

    functions.wait_ready("big")
    body = functions.get("big") or {}
    assert not any(key.startswith("kopf") for key in body["metadata"].get("annotations") or {})
    assert (functions.read("ConfigMap", "big") or {})["data"]["greeting.py"] == big

    huge = functions.wait_reason("huge", "SourceTooLarge")
    assert "1048576-byte (1 MiB) limit" in huge["message"]
    assert all(functions.read(kind, "huge") is None for kind in CHILDREN)


def test_operator_counts_reconciles_failures_and_durations_for_prometheus(
        functions: Functions) -> None:
    functions.create("counted")
    functions.wait_ready("counted")

    text = httpx.get(functions.operator.metrics_url, timeout=5).text

    assert 'kubeless_operator_reconciles_total{result="ReplicasReady"}' in text
    assert "kubeless_operator_reconcile_failures_total" in text
    assert "kubeless_operator_reconcile_duration_seconds_bucket" in text
