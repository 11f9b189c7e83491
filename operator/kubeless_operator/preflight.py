"""Checks made once before kopf starts: may the operator watch and write what it serves?

kopf meets a missing permission only on its watch streams: it retries each 403
for about a minute, then exits with hundreds of lines of tracebacks, none of
which says what to grant. Asked first, with SelfSubjectAccessReviews (which every
authenticated identity may create), the same question gets one sentence naming
what is missing, where, and what grants it. A missing Function CRD is no reason
to stop: the operator can wait for it, so that is only a warning.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Sequence
from typing import NamedTuple

import urllib3
from kubernetes import client

from kubeless_operator import builders, clients, scope

# A server that takes longer than this to answer a handful of small requests is
# not one the operator could work with either.
TIMEOUT = 10.0
VERBS = ("list", "watch")
CRD_FILE = "crds/functions.kubeless.io.yaml"

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    subresource: str = ""

    @property
    def name(self) -> str:
        """As RBAC and kubectl spell it: ``deployments.apps``, ``functions.kubeless.io/status``."""
        name = f"{self.plural}.{self.group}" if self.group else self.plural
        return f"{name}/{self.subresource}" if self.subresource else name


FUNCTIONS = Resource(builders.GROUP, builders.VERSION, builders.PLURAL)
# The kinds handlers.CHILD_RESOURCES watches: every object, not only the operator's.
CHILDREN = (
    Resource("", "v1", "configmaps"),
    Resource("", "v1", "services"),
    Resource("apps", "v1", "deployments"),
    Resource("autoscaling", "v2", "horizontalpodautoscalers"),
)
FUNCTION_STATUS = Resource(builders.GROUP, builders.VERSION, builders.PLURAL, "status")
EVENTS = Resource("", "v1", "events")
# What the reconciler does with each kind besides watching it: children are applied
# server-side (a patch that may create), and those it may make anew are deleted.
WRITES = {
    FUNCTION_STATUS: ("patch",),
    CHILDREN[0]: ("create", "patch", "delete"),
    CHILDREN[1]: ("create", "patch", "delete"),
    CHILDREN[2]: ("create", "patch"),
    CHILDREN[3]: ("create", "patch", "delete"),
}
# Watched by kopf when it watches cluster-wide, so that a CRD installed or changed
# after the start is noticed; without the permission kopf retries for a minute.
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")


class PreflightError(Exception):
    """The operator cannot work with this connection; the message says why and what fixes it."""


class Access(NamedTuple):
    verb: str
    resource: Resource
    namespace: str | None  # None: in every namespace


@dataclasses.dataclass(frozen=True)
class Findings:
    """What the checks found that is allowed to be missing."""

    functions_served: bool
    """Whether the Function CRD is installed, so that kopf has Functions to watch."""
    crds_watchable: bool
    """Whether kopf may watch CRDs (cluster-wide only) to notice the Function CRD appear."""


def check(configuration: client.Configuration, namespaces: scope.NamespaceScope) -> Findings:
    """What the operator may rely on, or PreflightError if it cannot watch ``namespaces``.

    Missing Functions or permission to watch CRDs are logged as warnings: kopf
    copes with both, if less well.
    """
    # Its own client, without urllib3's retries: they come at once, so they do
    # not outlast a blip, and each logs a warning before the one sentence.
    configuration = copy.deepcopy(configuration)
    configuration.retries = 0
    with client.ApiClient(configuration) as api_client:
        return _check(api_client, namespaces)


def _check(api_client: client.ApiClient, namespaces: scope.NamespaceScope) -> Findings:
    host = api_client.configuration.host
    places: list[str | None] = list(namespaces.names) or [None]
    wanted = [Access(verb, resource, place)
              for place in places for resource in (FUNCTIONS, *CHILDREN) for verb in VERBS]
    # Without these the operator would start, then fail every reconcile with 403s
    # and, without the status patch, say nothing where users look. Asked only once
    # watching is allowed, so that a missing Role reads as one short sentence.
    writes = [Access(verb, resource, place)
              for place in places for resource, verbs in WRITES.items() for verb in verbs]
    events = [Access("create", EVENTS, place) for place in places]
    if not namespaces.names:
        wanted += [Access(verb, CRDS, None) for verb in VERBS]
    try:
        # Discovery first: any authenticated identity may read it, so it also
        # proves the server reachable and the credentials accepted.
        functions_served = is_served(api_client, FUNCTIONS)
        denied = [access for access in wanted if not is_allowed(api_client, access)]
        if not any(access.resource != CRDS for access in denied):
            denied += [access for access in writes if not is_allowed(api_client, access)]
        events_denied = [access for access in events if not is_allowed(api_client, access)]
    except client.ApiException as error:
        raise PreflightError(_refused(host, error)) from error
    except urllib3.exceptions.HTTPError as error:
        raise PreflightError(
            f"cannot reach the Kubernetes API at {host}: {_reason(error)}; the operator "
            "needs a running cluster, named by $KUBECONFIG, ~/.kube/config or the pod's "
            "service account.") from error

    missing = [access for access in denied if access.resource != CRDS]
    if missing:
        raise PreflightError(f"{_identity(api_client)} may not {_describe(missing)}"
                             f"{_remedy(namespaces)}.")

    if events_denied:
        logger.warning("Events are off: %s may not %s; statuses still say everything, "
                       "but kubectl describe shows no events.", _identity(api_client),
                       _describe(events_denied))
    # Only kopf's cluster-wide mode watches CRDs, and it can do without.
    crds_watchable = not namespaces.names and not denied
    if denied:
        logger.warning(
            "Watching for new CRDs is off: %s may not list or watch %s, so a Function CRD "
            "installed or changed after this start is noticed only at the next restart; "
            "the chart's ClusterRole grants it.", _identity(api_client), CRDS.name)
    if not functions_served:
        logger.warning("Functions (%s/%s) are not served here: apply %s (kubectl apply -f "
                       "crds/); %s", FUNCTIONS.name, FUNCTIONS.version, CRD_FILE,
                       _when_served(namespaces, crds_watchable=crds_watchable))
    return Findings(functions_served=functions_served, crds_watchable=crds_watchable)


def is_served(api_client: client.ApiClient, resource: Resource) -> bool:
    """Whether the API server serves ``resource`` in its group and version."""
    try:
        served = client.CustomObjectsApi(api_client).get_api_resources(
            resource.group, resource.version, _request_timeout=TIMEOUT)
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise
    return any(entry.name == resource.plural for entry in served.resources or ())


def is_allowed(api_client: client.ApiClient, access: Access) -> bool:
    """Whether these credentials may ``access``, as the API server's authorizers decide."""
    attributes = client.V1ResourceAttributes(
        verb=access.verb, group=access.resource.group, version=access.resource.version,
        resource=access.resource.plural, subresource=access.resource.subresource or None,
        namespace=access.namespace)
    review = client.AuthorizationV1Api(api_client).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)),
        _request_timeout=TIMEOUT)
    return bool(review.status and review.status.allowed)


def _identity(api_client: client.ApiClient) -> str:
    try:
        review = client.AuthenticationV1Api(api_client).create_self_subject_review(
            client.V1SelfSubjectReview(), _request_timeout=TIMEOUT)
    except (client.ApiException, urllib3.exceptions.HTTPError):
        # SelfSubjectReview is served from Kubernetes 1.28 on; before, no name.
        return "these credentials"
    user = review.status.user_info if review.status else None
    return f"the user {user.username!r}" if user and user.username else "these credentials"


def _describe(missing: Sequence[Access]) -> str:
    """``list or watch a or b in every namespace, nor watch c in namespace 'x'``."""
    # Grouped by verbs, then resources, then namespaces, so that the common case
    # (a Role or ClusterRole missing entirely) reads as one short clause, not as
    # a list of every check.
    verbs: dict[tuple[Resource, str | None], list[str]] = {}
    for access in missing:
        verbs.setdefault((access.resource, access.namespace), []).append(access.verb)
    resources: dict[tuple[tuple[str, ...], str | None], list[str]] = {}
    for (resource, namespace), denied in verbs.items():
        resources.setdefault((tuple(denied), namespace), []).append(resource.name)
    places: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str | None]] = {}
    for (denied_verbs, namespace), names in resources.items():
        places.setdefault((denied_verbs, tuple(names)), []).append(namespace)
    return ", nor ".join(
        f"{' or '.join(denied_verbs)} {series(names)} {_where(namespaces)}"
        for (denied_verbs, names), namespaces in places.items())


def series(items: Sequence[str], conjunction: str = "or") -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _where(namespaces: Sequence[str | None]) -> str:
    if None in namespaces:
        return "in every namespace"
    quoted = [repr(namespace) for namespace in namespaces]
    return f"in namespace{'s' if len(quoted) > 1 else ''} {series(quoted, 'and')}"


def _when_served(namespaces: scope.NamespaceScope, *, crds_watchable: bool) -> str:
    if crds_watchable:
        return "the operator picks Functions up once the CRD exists."
    if namespaces.names:
        return ("then restart the operator: with exact --namespace names it does not "
                "watch for new CRDs.")
    return "then restart the operator: it may not watch for new CRDs."


def _remedy(namespaces: scope.NamespaceScope) -> str:
    if namespaces.names:
        return ("; grant a Role with the operator's rules in each namespace it watches, "
                "as the chart does with watchNamespaces")
    globs = [pattern for pattern in namespaces.patterns if set(pattern) & scope.WILDCARDS]
    why = (f"as --namespace {globs[0]!r} needs (a glob is watched cluster-wide)" if globs
           else "as watching without --namespace needs")
    return (f", {why}; bind it to a ClusterRole like the chart's, or pass exact "
            "--namespace names and grant a Role in each")


def _refused(host: str, error: client.ApiException) -> str:
    message = clients.message_of(error).rstrip(".")
    if error.status == 401:
        return (f"the Kubernetes API at {host} does not accept these credentials "
                f"({message}); renew the token or certificate in the kubeconfig.")
    return (f"the Kubernetes API at {host} refused the operator's start-up checks "
            f"with {error.status}: {message}.")


def _reason(error: urllib3.exceptions.HTTPError) -> str:
    # urllib3 wraps the socket's own error in layers whose text repeats the
    # address; the innermost one with an OS reason says it best.
    causes: list[BaseException] = []
    cause: BaseException | None = getattr(error, "reason", None) or error
    while cause is not None and cause not in causes:
        causes.append(cause)
        cause = cause.__cause__
    for cause in reversed(causes):
        if isinstance(cause, OSError) and cause.strerror:
            return str(cause.strerror)
    if any(isinstance(cause, urllib3.exceptions.TimeoutError) for cause in causes):
        return f"no answer within {TIMEOUT:g} seconds"
    return str(causes[-1])
