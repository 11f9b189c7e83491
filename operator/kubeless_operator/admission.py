"""The validating admission webhook: refuse a broken Function at ``kubectl apply``.

It runs the very checks that reconcile runs (``specs.read``), so the webhook and
the status conditions can never disagree; the webhook only says it sooner. The
source is parsed, never executed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kopf

from kubeless_operator import builders, specs, statuses

HANDLER_ID = "validate-function"
"""Also the URL path the apiserver calls: ``/validate-function``."""


@dataclasses.dataclass(frozen=True)
class WebhookOptions:
    host: str
    port: int
    certfile: Path
    pkeyfile: Path


def register(registry: kopf.OperatorRegistry, settings: kopf.OperatorSettings,
             options: WebhookOptions) -> None:
    """Serve the webhook with the given certificate; the chart (or a test) configures it."""
    # TODO: raise the server's request limit to the apiserver's 3 MiB once kopf's
    # WebhookServer lets it be set: aiohttp's default of 1 MiB answers 413 to the
    # review of a source near the ConfigMap limit (about 512 KiB on an update,
    # which carries old and new). With the chart's failurePolicy Ignore such a
    # Function is admitted and its status still reports every problem.
    settings.admission.server = kopf.WebhookServer(
        addr=options.host, port=options.port,
        certfile=str(options.certfile), pkeyfile=str(options.pkeyfile),
    )
    # The ValidatingWebhookConfiguration belongs to whoever installed the operator
    # (the Helm chart): managing it from here would need cluster-wide RBAC.
    settings.admission.managed = None
    kopf.on.validate(
        builders.GROUP, builders.VERSION, builders.PLURAL,
        id=HANDLER_ID, operations=["CREATE", "UPDATE"], registry=registry,
    )(validate_function)
    logging.getLogger("kopf.objects").addFilter(DenialsAreNotErrors())


class DenialsAreNotErrors(logging.Filter):
    """Logs the webhook's refusals at INFO: kopf logs them as handler errors.

    A refused Function is the webhook working, and an ERROR line per refusal
    would page whoever alerts on the operator's errors.
    """

    PREFIX = f"Webhook {HANDLER_ID!r} failed permanently"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.getMessage().startswith(self.PREFIX):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.exc_info = record.exc_text = None
        return True


def validate_function(body: Mapping[str, Any], **kwargs: Any) -> None:
    """Refuse the Function with every problem found, or let it pass untouched."""
    # A change that leaves the spec as it was (labels, annotations) is let
    # through even for a Function that was invalid before: the webhook judges
    # what a change brings, and the status already reports what was there.
    old: Mapping[str, Any] | None = kwargs.get("old")
    if old is not None and old.get("spec") == body.get("spec"):
        return
    try:
        specs.read(_with_identity(body))
    except specs.InvalidFunctionError as error:
        message = statuses.bounded_message("\n".join(error.problems))
        raise kopf.AdmissionError(message, code=422) from None


def _with_identity(body: Mapping[str, Any]) -> dict[str, Any]:
    # An object under review at creation may have no uid yet; the checks never
    # look at identity, so placeholders keep the reader's shape.
    raw = {key: value for key, value in body.items()}
    meta = {"name": "", "namespace": "", "uid": "", **(body.get("metadata") or {})}
    raw["metadata"] = meta
    return raw
