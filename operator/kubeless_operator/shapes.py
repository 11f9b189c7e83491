"""The shapes of the Kubernetes objects a Function carries, checked before any merge.

The CRD keeps ``spec.deployment``, ``spec.service`` and
``spec.horizontalPodAutoscaler`` open (Kubeless manifests put whole objects
there), so the API server accepts any shape in them. The operator merges them into
the children it builds, and a string where an object belongs would break that merge
on every retry. These checks cover the parts the operator reads or merges into; the
rest is left to the API server, whose refusal of an applied child becomes the
Function's ``ApplyFailed`` status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeless_operator import merging

# Paths, from the Deployment's top, whose values the merge descends into as objects.
DEPLOYMENT_OBJECTS = (
    ("metadata",),
    ("spec",),
    ("spec", "template"),
    ("spec", "template", "metadata"),
    ("spec", "template", "spec"),
    ("spec", "template", "spec", "securityContext"),
)
# Fields of a container the operator sets itself, so a user's value is merged into them.
CONTAINER_OBJECTS = ("resources", "securityContext", "readinessProbe", "livenessProbe")
STRING_MAPS = ("labels", "annotations")


def deployment_problems(raw: Any, field: str = "spec.deployment") -> list[str]:
    if not isinstance(raw, Mapping):
        return [_not_an_object(field, raw)]
    problems: list[str] = []
    for path in DEPLOYMENT_OBJECTS:
        value = _at(raw, path)
        if value is not None and not isinstance(value, Mapping):
            problems.append(_not_an_object(".".join((field, *path)), value))
    for meta_path in (("metadata",), ("spec", "template", "metadata")):
        meta = _at(raw, meta_path)
        if isinstance(meta, Mapping):
            for name in STRING_MAPS:
                problems += _string_map_problems(
                    meta.get(name), ".".join((field, *meta_path, name)))
    replicas = _at(raw, ("spec", "replicas"))
    if replicas is not None and not _is_count(replicas):
        problems.append(f"{field}.spec.replicas is {show(replicas)}; it must be a whole "
                        f"number of replicas from 0 to {INT32_MAX}.")
    problems += _merged_list_problems(raw, field)
    return problems


def privilege_problems(raw: Mapping[str, Any], field: str = "spec.deployment") -> list[str]:
    """What in a partial Deployment would reach past the pod's sandbox.

    The rules follow the baseline Pod Security Standard, for every container of the
    pod (sidecars too), plus root, privilege escalation and added capabilities, which
    the operator's own container never has.

    The operator creates the Deployment with its own permissions, so whoever may
    write a Function must not get the node through it: these are refused rather
    than merged, and a workload that needs them is deployed by its owners directly.
    """
    pod = _at(raw, ("spec", "template", "spec"))
    if not isinstance(pod, Mapping):
        return []
    where = f"{field}.spec.template.spec"
    problems = [f"{where}.{name} is set; a function's pod may not share the node's "
                f"{what}." for name, what in HOST_NAMESPACES.items() if pod.get(name)]
    for index, volume in enumerate(pod.get("volumes") or []):
        if isinstance(volume, Mapping) and "hostPath" in volume:
            problems.append(f"{where}.volumes[{index}] is a hostPath volume; a function's "
                            "pod may not mount the node's files (use a configMap, secret, "
                            "emptyDir or persistentVolumeClaim volume).")
    pod_context = pod.get("securityContext")
    if isinstance(pod_context, Mapping):
        problems += _escalations(pod_context, f"{where}.securityContext")
        if pod_context.get("sysctls"):
            problems.append(f"{where}.securityContext.sysctls is set; a function's pod "
                            "keeps the node's kernel settings.")
    for list_name in ("initContainers", "containers"):
        for index, container in enumerate(pod.get(list_name) or []):
            if not isinstance(container, Mapping):
                continue
            context = container.get("securityContext")
            if isinstance(context, Mapping):
                problems += _escalations(context, f"{where}.{list_name}[{index}].securityContext")
            for port_index, port in enumerate(container.get("ports") or []):
                if isinstance(port, Mapping) and port.get("hostPort"):
                    problems.append(
                        f"{where}.{list_name}[{index}].ports[{port_index}].hostPort is set; a "
                        "function's pod may not take the node's ports (the Service exposes it).")
    return problems


# Pod fields that share one of the node's namespaces, with what they share.
HOST_NAMESPACES = {"hostNetwork": "network", "hostPID": "processes", "hostIPC": "IPC"}


def _escalations(context: Mapping[str, Any], field: str) -> list[str]:
    problems: list[str] = []
    if context.get("privileged"):
        problems.append(f"{field}.privileged is true; function pods run unprivileged.")
    if context.get("allowPrivilegeEscalation"):
        problems.append(f"{field}.allowPrivilegeEscalation is true; function pods run "
                        "without privilege escalation.")
    capabilities = context.get("capabilities")
    if isinstance(capabilities, Mapping) and capabilities.get("add"):
        problems.append(f"{field}.capabilities.add is {show(capabilities['add'])}; "
                        "function pods run with every capability dropped.")
    if context.get("runAsUser") == 0 or context.get("runAsNonRoot") is False:
        problems.append(f"{field} asks for root; function pods run as a non-root user.")
    for profile in ("seccompProfile", "appArmorProfile"):
        kind = context.get(profile)
        if isinstance(kind, Mapping) and kind.get("type") == "Unconfined":
            problems.append(f"{field}.{profile} is Unconfined; function pods keep the "
                            "runtime's default profile.")
    selinux = context.get("seLinuxOptions")
    if isinstance(selinux, Mapping) and (selinux.get("user") or selinux.get("role") or (
            selinux.get("type") not in {None, *SELINUX_CONTAINER_TYPES})):
        problems.append(f"{field}.seLinuxOptions asks for {show(dict(selinux))}; function "
                        "pods keep a container SELinux type.")
    if context.get("procMount") not in {None, "Default"}:
        problems.append(f"{field}.procMount is {show(context['procMount'])}; function pods "
                        "keep the default /proc.")
    windows = context.get("windowsOptions")
    if isinstance(windows, Mapping) and windows.get("hostProcess"):
        problems.append(f"{field}.windowsOptions.hostProcess is true; function pods do not "
                        "run as host processes.")
    return problems


# The SELinux types Kubernetes' baseline Pod Security Standard allows.
SELINUX_CONTAINER_TYPES = ("container_t", "container_init_t", "container_kvm_t",
                           "container_engine_t")


def service_problems(raw: Any, field: str = "spec.service") -> list[str]:
    if not isinstance(raw, Mapping):
        return [_not_an_object(field, raw)]
    ports = raw.get("ports")
    if ports is None:
        return []
    if not isinstance(ports, list) or not ports or not all(
            isinstance(port, Mapping) for port in ports):
        return [f"{field}.ports is {show(ports)}; it must be a list of port objects, such "
                "as [{port: 8080, targetPort: 8080}]."]
    problems: list[str] = []
    for index, port in enumerate(ports):
        where = f"{field}.ports[{index}]"
        if "port" in port and not _is_port(port["port"]):
            problems.append(f"{where}.port is {show(port['port'])}; it must be a port "
                            "number from 1 to 65535.")
        target = port.get("targetPort")
        if target is not None and not (_is_port(target) or isinstance(target, str)):
            problems.append(f"{where}.targetPort is {show(target)}; it must be a port "
                            "number or a port name.")
    return problems


def autoscaler_problems(raw: Any, field: str = "spec.horizontalPodAutoscaler") -> list[str]:
    if not isinstance(raw, Mapping):
        return [_not_an_object(field, raw)]
    spec = raw.get("spec")
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        return [_not_an_object(f"{field}.spec", spec)]
    problems: list[str] = []
    for name in ("minReplicas", "maxReplicas"):
        value = spec.get(name)
        if value is not None and not _is_count(value):
            problems.append(f"{field}.spec.{name} is {show(value)}; it must be a whole "
                            f"number of replicas from 0 to {INT32_MAX}.")
    metrics = spec.get("metrics")
    if metrics is not None and not (isinstance(metrics, list) and all(
            isinstance(metric, Mapping) for metric in metrics)):
        problems.append(f"{field}.spec.metrics is {show(metrics)}; it must be a list of "
                        "metric objects, such as [{type: Resource, resource: {...}}].")
    return problems


def _merged_list_problems(value: Any, field: str) -> list[str]:
    """Lists merged item by item must hold objects, at any depth of the Deployment."""
    problems: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{field}.{key}"
            is_list_of_objects = isinstance(item, list) and all(
                isinstance(i, Mapping) for i in item)
            if key in merging.MERGE_KEYS and item is not None and not is_list_of_objects:
                problems.append(f"{where} is {show(item)}; it must be a list of objects.")
                continue
            if key in {"containers", "initContainers"} and isinstance(item, list):
                for index, container in enumerate(item):
                    problems += _container_problems(container, f"{where}[{index}]")
                continue
            problems += _merged_list_problems(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += _merged_list_problems(item, f"{field}[{index}]")
    return problems


def _container_problems(container: Mapping[str, Any], field: str) -> list[str]:
    problems = [_not_an_object(f"{field}.{name}", container[name])
                for name in CONTAINER_OBJECTS
                if container.get(name) is not None and not isinstance(container[name], Mapping)]
    return problems + _merged_list_problems(
        {key: value for key, value in container.items() if key not in CONTAINER_OBJECTS},
        field)


def _string_map_problems(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, Mapping) or not all(
            isinstance(item, str) for item in value.values()):
        return [f"{field} is {show(value)}; it must map names to strings (quote numbers "
                "and booleans in YAML)."]
    return []


def _at(raw: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = raw
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    # Kubernetes keeps replica counts in 32 bits; a larger number would wrap.
    return _is_whole(value) and 0 <= value <= INT32_MAX


def _is_port(value: Any) -> bool:
    return _is_whole(value) and 1 <= value <= 65535


INT32_MAX = 2**31 - 1


def _not_an_object(field: str, value: Any) -> str:
    return f"{field} is {show(value)}; it must be an object (a YAML mapping)."


def show(value: Any) -> str:
    """A value as a message quotes it, shortened past 60 characters."""
    shown = repr(value)
    return shown if len(shown) <= 60 else f"{shown[:57]}..."
