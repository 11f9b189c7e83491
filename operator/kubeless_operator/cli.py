"""``kubeless-fastapi operator``: run the Function operator against the current cluster.

The Kubernetes connection comes from the usual places: the in-cluster service
account in a pod, otherwise ``$KUBECONFIG`` or ``~/.kube/config``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import glob
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import kopf
from kubernetes import client, config

from kubeless_operator import (
    admission,
    clients,
    handlers,
    metrics,
    observing,
    reconciling,
    runtimes,
)


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
        metrics_host, metrics_port = _address(options.metrics_address, "--metrics-address")
        _address(options.health_address, "--health-address")
        webhook = _webhook_options(options)
    except (runtimes.RuntimeTableError, ValueError) as error:
        print(f"kubeless-fastapi operator: {error}", file=sys.stderr)
        return 2

    kopf.configure(verbose=options.verbose)
    # kopf logs every watch event at debug level and every handled event at info;
    # the operator's own lines say what matters.
    logging.getLogger("kopf").setLevel(logging.INFO)
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.INFO)
    logging.getLogger("kubeless_operator").setLevel(
        logging.DEBUG if options.verbose else logging.INFO)

    try:
        config.load_config()  # type: ignore[no-untyped-call]  # the client's own gap
    except config.ConfigException as error:
        print(f"kubeless-fastapi operator: no Kubernetes connection: {error}", file=sys.stderr)
        return 2
    configuration = client.Configuration.get_default_copy()
    # One connection per worker, so that no reconcile waits for another's socket.
    configuration.connection_pool_maxsize = max(options.workers, 4)
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
    )
    # Ownership comes from kopf's indexes once the operator runs (see handlers).
    memo.context = dataclasses.replace(memo.context, owner_of=memo.owner_of)
    namespaces = list(options.namespace)
    settings = kopf.OperatorSettings()
    handlers.configure(settings)
    if namespaces and not any(glob.has_magic(pattern) for pattern in namespaces):
        # Named namespaces need no discovery of namespaces or CRDs, and a
        # namespaced install's Roles allow no cluster-scoped request for them.
        settings.scanning.disabled = True
    if webhook is not None:
        admission.register(kopf.get_default_registry(), settings, webhook)
    metrics.serve(host=metrics_host, port=metrics_port)

    asyncio.run(kopf.operator(
        settings=settings,
        memo=memo,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=f"http://{options.health_address}/healthz",
    ))
    api_client.close()  # type: ignore[no-untyped-call]
    return 0


def _webhook_options(options: argparse.Namespace) -> admission.WebhookOptions | None:
    if options.webhook_address is None:
        return None
    if options.webhook_cert is None or options.webhook_key is None:
        raise ValueError("--webhook-address needs --webhook-cert and --webhook-key: "
                         "the apiserver calls admission webhooks over TLS only.")
    for path in (options.webhook_cert, options.webhook_key):
        if not path.is_file():
            raise ValueError(f"the webhook's certificate or key {str(path)!r} is not a file.")
    host, port = _address(options.webhook_address, "--webhook-address")
    return admission.WebhookOptions(host=host, port=port, certfile=options.webhook_cert,
                                    pkeyfile=options.webhook_key)


def _address(value: str, option: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"{option} is {value!r}; it must be HOST:PORT, such as 0.0.0.0:8081.")
    return host or "0.0.0.0", int(port)
