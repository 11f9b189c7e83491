"""``kubeless-fastapi operator``: run the Function operator against the current cluster.

The Kubernetes connection comes from the usual places: the in-cluster service
account in a pod, otherwise ``$KUBECONFIG`` or ``~/.kube/config``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import logging
import math
import os
import re
import socket
import ssl
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import kopf
import yaml
from kubernetes import client, config

from kubeless_operator import (
    admission,
    clients,
    handlers,
    metrics,
    observing,
    preflight,
    reconciling,
    runtimes,
    scope,
)

PORT_LIMIT = 65535
DOMAIN_LIMIT = 253
DOMAIN_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubeless-fastapi operator",
        description="Turn Kubeless Function resources into running FastAPI functions.",
    )
    parser.add_argument(
        "-n", "--namespace", action="append", default=[], metavar="NAMESPACE",
        help="Watch this namespace only; repeat for more, globs such as 'team-*' "
             "allowed. Default: every namespace.",
    )
    parser.add_argument(
        "--runtimes", type=Path, metavar="FILE",
        help="YAML runtime table mapping runtime names to images. Default: "
             f"{runtimes.DEFAULT_RUNTIME} -> {runtimes.DEFAULT_IMAGE}.",
    )
    parser.add_argument(
        "--health-address", default="0.0.0.0:8081", metavar="HOST:PORT",
        help="Where to serve the liveness probe, at /healthz. Default: %(default)s.",
    )
    parser.add_argument(
        "--metrics-address", default="0.0.0.0:9090", metavar="HOST:PORT",
        help="Where to serve Prometheus metrics, at /metrics. Default: %(default)s.",
    )
    parser.add_argument(
        "--workers", type=int, default=8,
        help="Functions reconciled at once. Default: %(default)s.",
    )
    parser.add_argument(
        "--resync-seconds", type=float, default=300.0,
        help="How often every Function is reconciled even without events, which "
             "bounds the repair of a change whose watch event was lost. "
             "Default: %(default)s.",
    )
    parser.add_argument(
        "--cluster-domain", default="cluster.local",
        help="The cluster's DNS domain, for the URL in each status. Default: %(default)s.",
    )
    parser.add_argument(
        "--webhook-address", metavar="HOST:PORT",
        help="Serve the validating admission webhook here, over TLS, at "
             f"/{admission.HANDLER_ID}. Default: no webhook.",
    )
    parser.add_argument("--webhook-cert", type=Path, metavar="FILE",
                        help="The webhook's TLS certificate (PEM).")
    parser.add_argument("--webhook-key", type=Path, metavar="FILE",
                        help="The webhook's TLS private key (PEM).")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log debug lines.")
    return parser


def main(args: Sequence[str]) -> int:
    options = build_parser().parse_args(list(args))
    try:
        table = (runtimes.load_table(options.runtimes) if options.runtimes
                 else runtimes.default_table())
        _check_settings(options)
        namespaces = scope.NamespaceScope.parse(options.namespace)
        metrics_host, metrics_port = _address(options.metrics_address, "--metrics-address")
        health = _address(options.health_address, "--health-address")
        webhook = _webhook_options(options)
        # Checked before anything starts: a port found taken later surfaces as a
        # traceback from deep inside the HTTP servers.
        _check_listeners({
            "--health-address": health,
            "--metrics-address": (metrics_host, metrics_port),
            **({"--webhook-address": (webhook.host, webhook.port)} if webhook else {}),
        })
    except (runtimes.RuntimeTableError, ValueError) as error:
        return _refuse(str(error))

    kopf.configure(verbose=options.verbose)
    # kopf logs every watch event at debug level and every handled event at info;
    # the operator's own lines say what matters.
    logging.getLogger("kopf").setLevel(logging.INFO)
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.INFO)
    logging.getLogger("kubeless_operator").setLevel(
        logging.DEBUG if options.verbose else logging.INFO)

    named = [path for path in os.environ.get("KUBECONFIG", "").split(os.pathsep) if path]
    if named and not any(Path(path).expanduser().is_file() for path in named):
        # The client would fall back to in-cluster settings and blame those instead.
        return _refuse(f"no Kubernetes connection: KUBECONFIG names "
                       f"{preflight.series([repr(path) for path in named], 'and')}, and "
                       f"none is a file; point it at a kubeconfig, or unset it to use "
                       f"~/.kube/config or the pod's service account.")
    home_config = Path("~/.kube/config").expanduser()
    try:
        # As kubectl does: the files KUBECONFIG lists, merged; else ~/.kube/config;
        # else the pod's service account. (The client's load_config looks for the
        # whole list as one path, and takes an empty KUBECONFIG for a file.)
        if named:
            config.load_kube_config()  # type: ignore[no-untyped-call]  # the client's gap
        elif home_config.is_file():
            config.load_kube_config(config_file=str(home_config))  # type: ignore[no-untyped-call]
        else:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException as error:
        if not named and not home_config.is_file():
            return _refuse("no Kubernetes connection: KUBECONFIG names no file, there is no "
                           f"{home_config}, and this is not a pod with a service account "
                           f"({str(error).rstrip('.')}).")
        return _refuse(f"no Kubernetes connection: {error}")
    except (ValueError, yaml.YAMLError) as error:
        # A kubeconfig that is not YAML, or whose base64 fields are not base64, gets
        # past the client's own checks as the parser's or decoder's error.
        reason = " ".join(str(error).split()).rstrip(".")
        return _refuse(f"no Kubernetes connection: the kubeconfig cannot be read: {reason}.")
    configuration = client.Configuration.get_default_copy()
    # One connection per worker, so that no reconcile waits for another's socket.
    configuration.connection_pool_maxsize = max(options.workers, 4)

    # Asked before kopf starts: kopf meets a refusal only on its watch streams, as
    # a minute of retries and then tracebacks that say nothing of what to grant.
    try:
        findings = preflight.check(configuration, namespaces)
    except preflight.PreflightError as error:
        return _refuse(str(error))
    api_client = client.ApiClient(configuration)

    memo = handlers.Memo(
        context=reconciling.Context(
            client=clients.Client(api_client),
            runtimes=table,
            observations=observing.Observations(),
            cluster_domain=options.cluster_domain,
        ),
        executor=concurrent.futures.ThreadPoolExecutor(
            max_workers=options.workers, thread_name_prefix="reconcile"),
        workers=options.workers,
        resync_seconds=options.resync_seconds,
        scope=namespaces,
    )
    # Ownership comes from kopf's indexes once the operator runs (see handlers).
    memo.context = dataclasses.replace(memo.context, owner_of=memo.owner_of)
    # Said once at start: a misspelt namespace otherwise just looks like an idle operator.
    logging.getLogger("kubeless_operator").info("Watching Functions in %s.",
                                                namespaces.describe())
    settings = kopf.OperatorSettings()
    handlers.configure(settings)
    if namespaces.names or not findings.crds_watchable:
        # Named namespaces need no discovery of namespaces or CRDs, and a
        # namespaced install's Roles allow no cluster-scoped request for them;
        # without the permission to watch CRDs, kopf would retry it for a minute.
        settings.scanning.disabled = True
    if webhook is not None:
        admission.register(kopf.get_default_registry(), settings, webhook)
    try:
        metrics.serve(host=metrics_host, port=metrics_port)
    except OSError as error:
        return _refuse(_unservable("--metrics-address", options.metrics_address, error))

    asyncio.run(kopf.operator(
        settings=settings,
        memo=memo,
        clusterwide=not namespaces.names,
        namespaces=namespaces.names,
        liveness_endpoint=f"http://{options.health_address}/healthz",
    ))
    api_client.close()  # type: ignore[no-untyped-call]
    return 0


def _refuse(message: str) -> int:
    print(f"kubeless-fastapi operator: {message}", file=sys.stderr)
    return 2


def _check_settings(options: argparse.Namespace) -> None:
    if options.workers < 1:
        raise ValueError(f"--workers is {options.workers}; it must be a whole number of "
                         "Functions reconciled at once, at least 1.")
    seconds = options.resync_seconds
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"--resync-seconds is {seconds:g}; it must be a number of seconds "
                         "above zero, such as 300.")
    domain = options.cluster_domain
    if len(domain) > DOMAIN_LIMIT or not DOMAIN_PATTERN.match(domain):
        raise ValueError(
            f"--cluster-domain is {domain!r}; it must be a DNS name of dot-separated "
            "labels made of lowercase letters, digits and '-', such as 'cluster.local'.")


def _check_listeners(addresses: Mapping[str, tuple[str, int]]) -> None:
    """Refuse listeners that share a port or whose address cannot be bound now."""
    options = list(addresses)
    for number, first in enumerate(options):
        for second in options[number + 1:]:
            if _overlap(addresses[first], addresses[second]):
                raise ValueError(
                    f"{first} and {second} both use port {addresses[first][1]}; each "
                    "endpoint needs a port of its own.")
    for option, (host, port) in addresses.items():
        _check_free(option, host, port)


def _overlap(first: tuple[str, int], second: tuple[str, int]) -> bool:
    hosts = {first[0], second[0]}
    return first[1] == second[1] and (len(hosts) == 1 or bool(hosts & WILDCARD_HOSTS))


def _check_free(option: str, host: str, port: int) -> None:
    # Bound the way the servers bind (address reuse on), then let go at once.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host, port), family=family):
            pass
    except OSError as error:
        raise ValueError(_unservable(option, f"{host}:{port}", error)) from error


def _unservable(option: str, value: str, error: OSError) -> str:
    # socket.create_server appends the address to strerror; the option names it already.
    reason = os.strerror(error.errno) if error.errno else str(error)
    return (f"{option} is {value!r}, but nothing can listen there: {reason}; "
            "choose a free port or another address.")


def _webhook_options(options: argparse.Namespace) -> admission.WebhookOptions | None:
    if options.webhook_address is None:
        if options.webhook_cert is not None or options.webhook_key is not None:
            raise ValueError("--webhook-cert and --webhook-key serve the webhook only with "
                             "--webhook-address, such as 0.0.0.0:9443.")
        return None
    if options.webhook_cert is None or options.webhook_key is None:
        raise ValueError("--webhook-address needs --webhook-cert and --webhook-key: "
                         "the apiserver calls admission webhooks over TLS only.")
    for path in (options.webhook_cert, options.webhook_key):
        if not path.is_file():
            raise ValueError(f"the webhook's certificate or key {str(path)!r} is not a file.")
    # Loaded once here as the server will load them, so that a wrong file is one
    # sentence now rather than a TLS traceback once kopf starts the server.
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            options.webhook_cert, options.webhook_key, password=_no_passphrase)
    except _PassphraseAskedError:
        raise ValueError(f"--webhook-key {str(options.webhook_key)!r} is protected by a "
                         "passphrase, which the webhook server cannot be given; use an "
                         "unencrypted key, as a kubernetes.io/tls Secret holds.") from None
    except (ssl.SSLError, OSError) as error:
        mismatch = getattr(error, "reason", None) == "KEY_VALUES_MISMATCH"
        what = ("the key is not the certificate's" if mismatch
                else error.strerror if not isinstance(error, ssl.SSLError) and error.strerror
                else "OpenSSL cannot read them as PEM")
        raise ValueError(
            f"--webhook-cert {str(options.webhook_cert)!r} and --webhook-key "
            f"{str(options.webhook_key)!r} must be a PEM certificate and its own private "
            f"key: {what}.") from error
    host, port = _address(options.webhook_address, "--webhook-address")
    return admission.WebhookOptions(host=host, port=port, certfile=options.webhook_cert,
                                    pkeyfile=options.webhook_key)


def _address(value: str, option: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 1 <= int(port) <= PORT_LIMIT:
        raise ValueError(f"{option} is {value!r}; it must be HOST:PORT with a port from 1 "
                         f"to {PORT_LIMIT}, such as 0.0.0.0:8081.")
    return host.strip("[]") or "0.0.0.0", int(port)



class _PassphraseAskedError(Exception):
    """OpenSSL asked for the passphrase of an encrypted key."""


def _no_passphrase() -> str:
    # Without this, OpenSSL would prompt on the terminal, or wait for one.
    raise _PassphraseAskedError
